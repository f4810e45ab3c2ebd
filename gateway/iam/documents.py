"""
Policy documents as the IAM service stores them: validated once, kept as given.

Validation is the policy engine's (``gateway.policy.parse_policy``); this
module maps its errors onto IAM's ``MalformedPolicyDocument`` and applies
AWS's size quotas, which count characters without whitespace.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from gateway.errors import InvalidInput, LimitExceeded
from gateway.policy import PolicyError, parse_policy

Kind = Literal["identity", "resource", "trust", "boundary", "session"]

# AWS IAM quotas, in characters excluding whitespace.
MANAGED_POLICY_MAX = 6144
TRUST_POLICY_MAX = 2048
INLINE_AGGREGATE_MAX = {"user": 2048, "group": 5120, "role": 10240}


def policy_size(text: str) -> int:
    """
    Return a document's size as AWS counts it: characters that are not whitespace.
    """
    return sum(1 for char in text if not char.isspace())


def check_document(document: object, *, kind: Kind = "identity", max_size: int) -> str:
    """
    Validate a policy document and return its text, exactly as given.

    Args:
        document: JSON text, or an already-decoded JSON object (it is re-encoded).
        kind: what the document is used as; decides which elements are legal.
        max_size: AWS's quota for this use, in non-whitespace characters.

    Raises:
        InvalidInput: ``MalformedPolicyDocument`` with the engine's path and message.
        LimitExceeded: the document is over ``max_size``.
    """
    if isinstance(document, dict):
        text = json.dumps(document, indent=2)
    elif isinstance(document, str):
        text = document
    else:
        raise InvalidInput("a policy document must be JSON text", code="MalformedPolicyDocument")
    size = policy_size(text)
    if size > max_size:
        raise LimitExceeded(
            f"Cannot exceed quota for PolicySize: {max_size} (the document has {size} "
            "characters, not counting whitespace)"
        )
    try:
        parse_policy(text, kind=kind)
    except PolicyError as exc:
        raise InvalidInput(str(exc), code="MalformedPolicyDocument") from exc
    return text


def decode(text: str) -> Any:
    """
    Decode a stored document for output.
    """
    return json.loads(text)
