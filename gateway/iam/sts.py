"""
STS's business rules: which role an ARN names, session limits, parameters, MFA.

Part of the IAM service layer: it reads roles, policies and MFA devices through
the store and knows no HTTP. The STS API (``gateway.api.sts``) validates a call
with these functions, evaluates the trust policy with the authorizer and mints
the session token (``gateway.auth.session_token``); the workload credential
endpoint mints through the same path.

AWS's rules, from the STS API reference:

- ``AssumeRole``: ``DurationSeconds`` 900 up to the role's maximum session
  duration (default 3600); one hour at most when the caller is itself a role
  session (role chaining); ``RoleSessionName`` 2-64 characters of ``[\\w+=,.@-]``;
  ``ExternalId`` 2-1224 of ``[\\w+=,.@:/-]``; ``SourceIdentity`` 2-256 of
  ``[\\w+=,.@-]``; at most 50 session tags and 10 managed session policies; the
  inline session policy at most 2048 characters;
- ``GetSessionToken``: 900 to 129,600 seconds (default 43,200); for the root user
  at most 3600 (longer requests get one hour).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from gateway.errors import AccessDenied, InvalidInput
from gateway.iam import models, naming
from gateway.iam.crypto import Cipher
from gateway.iam.service import IAM
from gateway.policy import PolicyError, parse_policy
from gateway.store import Store

MIN_DURATION = 900
DEFAULT_ROLE_DURATION = 3600
MAX_ROLE_DURATION = 43200
CHAINED_MAX_DURATION = 3600
DEFAULT_USER_DURATION = 43200
MAX_USER_DURATION = 129600
MAX_ROOT_DURATION = 3600
MAX_SESSION_TAGS = 50
MAX_POLICY_ARNS = 10
MAX_SESSION_POLICY_CHARS = 2048
MFA_FAILED = "MultiFactorAuthentication failed with invalid MFA one time pass code."
REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"

_SESSION_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_SERIAL = re.compile(r"[\w+=/:,.@-]*", re.ASCII)
_TOKEN_CODE = re.compile(r"[0-9]{6}", re.ASCII)
# AWS: [\p{L}\p{Z}\p{N}_.:/=+\-@]; \w covers letters, digits and `_`.
_TAG_TEXT = re.compile(r"[\w .:/=+@\-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*")
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})")
_POLICY_TEXT = re.compile(r"[\t\n\r\x20-\xff]+")


def _invalid(value: str | None, member: str, constraint: str) -> InvalidInput:
    shown = "null" if value is None else f"'{value[:64]}'"
    return InvalidInput(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy "
        f"constraint: Member must {constraint}"
    )


def check_text(
    params: Mapping[str, str],
    name: str,
    *,
    pattern: re.Pattern[str],
    minimum: int,
    maximum: int,
    required: bool = False,
) -> str | None:
    """
    Return the parameter ``name`` checked against AWS's length and pattern, or None.

    Raises:
        InvalidInput: ``ValidationError`` in AWS's words.
    """
    member = name[0].lower() + name[1:]
    value = params.get(name)
    if value is None:
        if required:
            raise _invalid(None, member, "not be null")
        return None
    if not minimum <= len(value) <= maximum:
        raise _invalid(value, member, f"have length between {minimum} and {maximum}, inclusive")
    if not pattern.fullmatch(value):
        raise _invalid(value, member, f"satisfy regular expression pattern: {pattern.pattern}")
    return value


def session_name(params: Mapping[str, str]) -> str:
    """
    Return ``RoleSessionName``: required, 2-64 characters of ``[\\w+=,.@-]``.
    """
    value = check_text(
        params, "RoleSessionName", pattern=_SESSION_NAME, minimum=2, maximum=64, required=True
    )
    return value or ""


def external_id(params: Mapping[str, str]) -> str | None:
    """
    Return ``ExternalId`` (2-1224 characters), or None.
    """
    return check_text(params, "ExternalId", pattern=_EXTERNAL_ID, minimum=2, maximum=1224)


def source_identity(params: Mapping[str, str]) -> str | None:
    """
    Return ``SourceIdentity`` (2-256 characters, not starting with ``aws:``), or None.
    """
    value = check_text(params, "SourceIdentity", pattern=_SESSION_NAME, minimum=2, maximum=256)
    if value is not None and value.lower().startswith("aws:"):
        raise _invalid(value, "sourceIdentity", "not begin with the reserved prefix aws:")
    return value


def mfa_parameters(params: Mapping[str, str]) -> tuple[str, str] | None:
    """
    Return (``SerialNumber``, ``TokenCode``), or None when neither is given.

    Raises:
        InvalidInput: only one of them is given, or one is malformed.
    """
    serial = check_text(params, "SerialNumber", pattern=_SERIAL, minimum=9, maximum=256)
    code = check_text(params, "TokenCode", pattern=_TOKEN_CODE, minimum=6, maximum=6)
    if serial is None and code is None:
        return None
    if serial is None or code is None:
        raise InvalidInput("`SerialNumber` and `TokenCode` must be given together")
    return serial, code


def duration(
    params: Mapping[str, str], *, default: int, minimum: int = MIN_DURATION, maximum: int
) -> int:
    """
    Return ``DurationSeconds`` (decimal, ``minimum`` to ``maximum``) or ``default``.

    Raises:
        InvalidInput: not a decimal integer, or out of range.
    """
    text = params.get("DurationSeconds")
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise _invalid(text, "durationSeconds", "be a whole number of seconds")
    value = int(text)
    if not minimum <= value <= maximum:
        raise _invalid(
            text,
            "durationSeconds",
            f"have value less than or equal to {maximum} and greater than or equal to {minimum}",
        )
    return value


def session_tags(
    structs: Sequence[Mapping[str, str]], transitive: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    """
    Validate session tags (``Tags.member.N.Key``/``.Value``) and transitive keys.

    Raises:
        InvalidInput: more than 50 tags, a duplicate key (tag keys are
            case-insensitive), a malformed key or value, or a transitive key that is
            not one of the tags.
    """
    if len(structs) > MAX_SESSION_TAGS:
        raise _invalid(
            str(len(structs)), "tags", f"have length less than or equal to {MAX_SESSION_TAGS}"
        )
    pairs: list[tuple[str, str]] = []
    for struct in structs:
        if set(struct) - {"Key", "Value"} or "Key" not in struct or "Value" not in struct:
            raise InvalidInput("each session tag needs exactly a `Key` and a `Value`")
        key = check_text(struct, "Key", pattern=_TAG_TEXT, minimum=1, maximum=128) or ""
        value = check_text(struct, "Value", pattern=_TAG_TEXT, minimum=0, maximum=256) or ""
        if key.lower().startswith("aws:"):
            raise InvalidInput(f"tag `{key}`: the `aws:` prefix is reserved")
        pairs.append((key, value))
    keys = [key.lower() for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise InvalidInput(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )
    for key in transitive:
        if key.lower() not in keys:
            raise InvalidInput(f"the transitive tag key `{key}` is not one of the session tags")
    return tuple(pairs)


def merge_tags(
    base: Sequence[tuple[str, str]], session: Sequence[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """
    Return ``base`` tags (the role's) overridden by ``session`` tags, keys case-insensitive.
    """
    merged = {key.lower(): (key, value) for key, value in base}
    for key, value in session:
        merged[key.lower()] = (key, value)
    return tuple(merged.values())


def session_policy(params: Mapping[str, str]) -> str:
    """
    Return the inline session policy (``Policy``), validated, or "".

    Raises:
        InvalidInput: ``MalformedPolicyDocument`` for a document the engine refuses;
            ``PackedPolicyTooLarge`` over 2048 characters.
    """
    text = params.get("Policy")
    if text is None:
        return ""
    if not text or not _POLICY_TEXT.fullmatch(text):
        raise _invalid(
            text[:16],
            "policy",
            "satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        )
    if len(text) > MAX_SESSION_POLICY_CHARS:
        raise InvalidInput(
            f"The session policy is {len(text)} characters, over the limit of "
            f"{MAX_SESSION_POLICY_CHARS}.",
            code="PackedPolicyTooLarge",
        )
    try:
        parse_policy(text, kind="session")
    except PolicyError as exc:
        raise InvalidInput(str(exc), code="MalformedPolicyDocument") from exc
    return text


def policy_arns(structs: Sequence[Mapping[str, str]]) -> tuple[str, ...]:
    """
    Return the managed session policy ARNs (``PolicyArns.member.N.arn``).

    Raises:
        InvalidInput: more than 10, or a member without an ``arn`` of 20-2048 characters.
    """
    if len(structs) > MAX_POLICY_ARNS:
        raise _invalid(
            str(len(structs)), "policyArns", f"have length less than or equal to {MAX_POLICY_ARNS}"
        )
    arns: list[str] = []
    for struct in structs:
        arn = struct.get("arn")
        if set(struct) != {"arn"} or arn is None or not 20 <= len(arn) <= 2048:
            raise InvalidInput("each `PolicyArns` member needs an `arn` of 20 to 2048 characters")
        arns.append(arn)
    return tuple(dict.fromkeys(arns))


def role_arn(params: Mapping[str, str]) -> str:
    """
    Return ``RoleArn``: required, 20-2048 characters.
    """
    value = params.get("RoleArn")
    if value is None:
        raise _invalid(None, "roleArn", "not be null")
    if not 20 <= len(value) <= 2048:
        raise _invalid(value, "roleArn", "have length between 20 and 2048, inclusive")
    return value


async def find_role(store: Store, cipher: Cipher, arn: str) -> models.Role | None:
    """
    Return the role ``arn`` names in any account of the deployment, or None.

    The ARN must match the role exactly, path included (a role deleted and
    re-created elsewhere is another role).
    """
    match = _ROLE_ARN.fullmatch(arn)
    if match is None:
        return None
    account, name = match.groups()
    iam = IAM(store, cipher, account_id=account)
    try:
        role = await iam.get_role(name)
    except InvalidInput:  # NoSuchEntity, or a name IAM would refuse
        return None
    return role if role.arn == arn else None


async def check_policy_arns(
    store: Store, cipher: Cipher, account: str, arns: Sequence[str]
) -> None:
    """
    Check that each managed session policy exists in ``account`` (or is AWS-managed).

    Raises:
        InvalidInput: one does not exist.
    """
    iam = IAM(store, cipher, account_id=account)
    for arn in arns:
        try:
            await iam.get_policy(arn)
        except InvalidInput:
            raise InvalidInput(f"Policy {arn[:256]} does not exist or is not attachable.") from None


async def spend_mfa(
    store: Store, cipher: Cipher, *, account: str, owner: str, serial: str, code: str
) -> None:
    """
    Verify and spend an MFA code of ``owner``'s device ``serial`` (once per step).

    ``owner`` is the user id, or ``root:<account>`` for the root user.

    Raises:
        AccessDenied: no device of the owner accepts the code, the code was
            already used, or the device is not ``serial``.
    """
    iam = IAM(store, cipher, account_id=account)
    matched = await iam.verify_mfa_code(owner, code)
    if matched is None or matched != serial:
        raise AccessDenied(MFA_FAILED)


def new_key_pair() -> tuple[str, str]:
    """
    Return a new temporary access key id (``ASIA`` + 16) and its 40-character secret.
    """
    return naming.access_key_id(naming.TEMPORARY_KEY_PREFIX), naming.secret_access_key()


def revocation_policy(before: datetime) -> str:
    """
    Return AWS's ``AWSRevokeOlderSessions`` document: deny everything to sessions
    whose ``aws:TokenIssueTime`` is before ``before`` (to the second, as AWS does).
    """
    stamp = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = {
        "Effect": "Deny",
        "Action": ["*"],
        "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
