"""
The declarative IAM file of ``gateway apply`` and ``gateway export``: TOML or JSON.

``load_iam_file()`` reads and checks a file into frozen specs, so that a
malformed file is refused, with the file and the location of the problem
(``config/iam.toml: users[1].groups[0]: ...``), before anything is changed.
``dump_toml()`` writes the same format back (for ``export``).

The format (every key but ``name`` optional)::

    account_alias = "example"          # left alone when omitted
    prune = false                      # true: delete what the file does not name
    [password_policy]                  # AWS's fields in snake_case; left alone when omitted
    minimum_password_length = 12
    [[policies]]                       # customer managed policies
    name, path, description, document  # document: a table/object or JSON text
    [[groups]]
    name, path, policies, inline_policies
    [[users]]
    name, path, tags, groups, policies, inline_policies, permissions_boundary,
    console = { password_reset_required = true }
    [[roles]]
    name, path, description, max_session_duration, trust_policy, tags, policies,
    inline_policies, permissions_boundary

``policies`` lists managed policy names (customer or AWS managed) or ARNs;
``inline_policies`` maps a policy name to its document; ``tags`` maps keys to values.

``specs`` holds the frozen specs, ``loader`` decodes a file, ``reader`` checks
it, and ``writer`` writes TOML.
"""

from __future__ import annotations

from gateway.cli.iamfile.loader import load_iam_file
from gateway.cli.iamfile.specs import (
    PASSWORD_POLICY_FIELDS,
    Document,
    GroupSpec,
    IAMFile,
    IAMFileError,
    PolicySpec,
    Ref,
    RoleSpec,
    UserSpec,
)
from gateway.cli.iamfile.writer import dump_toml

__all__ = [
    "PASSWORD_POLICY_FIELDS",
    "Document",
    "GroupSpec",
    "IAMFile",
    "IAMFileError",
    "PolicySpec",
    "Ref",
    "RoleSpec",
    "UserSpec",
    "dump_toml",
    "load_iam_file",
]
