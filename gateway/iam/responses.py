"""
The IAM entities as AWS prints them: model values -> JSON-ready dicts.

The shapes are those of AWS IAM's responses as ``aws iam ... --output json``
prints them: AWS's member names, dates in ISO 8601 with ``+00:00``, policy
documents decoded (AWS sends them URL-encoded; the aws CLI decodes them).
Optional members are left out when they have no value, as AWS leaves them out.

Part of the IAM service layer (used by ``gateway.iam.operations``); knows no HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.iam import documents, models
from gateway.iam.passwords import PasswordPolicy

Shape = dict[str, Any]


def date(moment: datetime) -> str:
    """
    Return a time as the aws CLI prints it: ``2024-05-01T12:30:00+00:00``.
    """
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def tags(pairs: tuple[tuple[str, str], ...]) -> list[Shape]:
    """
    Return tags as AWS's ``[{"Key": ..., "Value": ...}]``.
    """
    return [{"Key": key, "Value": value} for key, value in pairs]


def _boundary(arn: str | None) -> Shape:
    if arn is None:
        return {}
    return {
        "PermissionsBoundary": {
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
            "PermissionsBoundaryArn": arn,
        }
    }


def user(value: models.User, *, with_tags: bool = False) -> Shape:
    """
    Return AWS's ``User`` shape (tags only where AWS returns them: CreateUser, GetUser).
    """
    shape: Shape = {
        "Path": value.path,
        "UserName": value.user_name,
        "UserId": value.user_id,
        "Arn": value.arn,
        "CreateDate": date(value.created),
    }
    if value.password_last_used is not None:
        shape["PasswordLastUsed"] = date(value.password_last_used)
    shape.update(_boundary(value.permissions_boundary))
    if with_tags and value.tags:
        shape["Tags"] = tags(value.tags)
    return shape


def group(value: models.Group) -> Shape:
    """
    Return AWS's ``Group`` shape.
    """
    return {
        "Path": value.path,
        "GroupName": value.group_name,
        "GroupId": value.group_id,
        "Arn": value.arn,
        "CreateDate": date(value.created),
    }


def role(value: models.Role, *, with_tags: bool = False) -> Shape:
    """
    Return AWS's ``Role`` shape, the trust policy decoded.
    """
    shape: Shape = {
        "Path": value.path,
        "RoleName": value.role_name,
        "RoleId": value.role_id,
        "Arn": value.arn,
        "CreateDate": date(value.created),
        "AssumeRolePolicyDocument": documents.decode(value.assume_role_policy_document),
    }
    if value.description:
        shape["Description"] = value.description
    shape["MaxSessionDuration"] = value.max_session_duration
    shape.update(_boundary(value.permissions_boundary))
    if with_tags and value.tags:
        shape["Tags"] = tags(value.tags)
    return shape


def policy(value: models.ManagedPolicy, *, boundary_uses: int = 0) -> Shape:
    """
    Return AWS's ``Policy`` shape (managed policies are always attachable here).
    """
    shape: Shape = {
        "PolicyName": value.policy_name,
        "PolicyId": value.policy_id,
        "Arn": value.arn,
        "Path": value.path,
        "DefaultVersionId": value.default_version_id,
        "AttachmentCount": value.attachment_count,
        "PermissionsBoundaryUsageCount": boundary_uses,
        "IsAttachable": True,
    }
    if value.description:
        shape["Description"] = value.description
    shape["CreateDate"] = date(value.created)
    shape["UpdateDate"] = date(value.updated)
    return shape


def policy_version(value: models.PolicyVersion, *, with_document: bool = True) -> Shape:
    """
    Return AWS's ``PolicyVersion`` shape; ListPolicyVersions and CreatePolicyVersion
    leave the document out, as AWS does.
    """
    shape: Shape = {}
    if with_document:
        shape["Document"] = documents.decode(value.document)
    shape.update(
        VersionId=value.version_id,
        IsDefaultVersion=value.is_default,
        CreateDate=date(value.created),
    )
    return shape


def attached_policy(value: models.AttachedPolicy) -> Shape:
    """
    Return AWS's ``AttachedPolicy`` shape.
    """
    return {"PolicyName": value.policy_name, "PolicyArn": value.policy_arn}


def access_key(value: models.AccessKey) -> Shape:
    """
    Return AWS's ``AccessKeyMetadata`` shape (never a secret).
    """
    return {
        "UserName": value.user_name,
        "AccessKeyId": value.access_key_id,
        "Status": value.status,
        "CreateDate": date(value.created),
    }


def new_access_key(value: models.NewAccessKey) -> Shape:
    """
    Return AWS's ``AccessKey`` shape: the one response that carries the secret.
    """
    return {
        "UserName": value.key.user_name,
        "AccessKeyId": value.key.access_key_id,
        "Status": value.key.status,
        "SecretAccessKey": value.secret_access_key,
        "CreateDate": date(value.key.created),
    }


def access_key_last_used(value: models.AccessKey) -> Shape:
    """
    Return AWS's ``GetAccessKeyLastUsed`` result (``N/A`` for a key never used).
    """
    last: Shape = {}
    if value.last_used is not None:
        last["LastUsedDate"] = date(value.last_used)
    last["ServiceName"] = value.last_used_service or "N/A"
    last["Region"] = value.last_used_region or "N/A"
    return {"UserName": value.user_name, "AccessKeyLastUsed": last}


def login_profile(value: models.LoginProfile) -> Shape:
    """
    Return AWS's ``LoginProfile`` shape.
    """
    return {
        "UserName": value.user_name,
        "CreateDate": date(value.created),
        "PasswordResetRequired": value.password_reset_required,
    }


def mfa_device(value: models.MFADevice) -> Shape:
    """
    Return AWS's ``MFADevice`` shape (a device assigned to a user).
    """
    shape: Shape = {"UserName": value.user_name, "SerialNumber": value.serial_number}
    if value.enabled is not None:
        shape["EnableDate"] = date(value.enabled)
    return shape


def virtual_mfa_device(value: models.MFADevice, owner: models.User | None) -> Shape:
    """
    Return AWS's ``VirtualMFADevice`` shape as ListVirtualMFADevices prints it.
    """
    shape: Shape = {"SerialNumber": value.serial_number}
    if owner is not None:
        shape["User"] = user(owner)
    if value.enabled is not None:
        shape["EnableDate"] = date(value.enabled)
    return shape


def new_virtual_mfa_device(value: models.NewVirtualMFADevice) -> Shape:
    """
    Return the ``VirtualMFADevice`` of CreateVirtualMFADevice.

    ``Base32StringSeed`` is the seed itself, as an authenticator app takes it (AWS's
    wire carries it base64-wrapped as a blob). ``OtpauthUri`` is a gateway extension:
    the ``otpauth://`` URI a QR code encodes; ``QRCodePNG`` is not returned.
    """
    return {
        "SerialNumber": value.serial_number,
        "Base32StringSeed": value.base32_seed,
        "OtpauthUri": value.otpauth_uri,
    }


def password_policy(value: PasswordPolicy) -> Shape:
    """
    Return AWS's ``PasswordPolicy`` shape, with the derived ``ExpirePasswords``.
    """
    shape: Shape = {
        "MinimumPasswordLength": value.minimum_password_length,
        "RequireSymbols": value.require_symbols,
        "RequireNumbers": value.require_numbers,
        "RequireUppercaseCharacters": value.require_uppercase_characters,
        "RequireLowercaseCharacters": value.require_lowercase_characters,
        "AllowUsersToChangePassword": value.allow_users_to_change_password,
        "ExpirePasswords": value.expire_passwords,
    }
    if value.max_password_age is not None:
        shape["MaxPasswordAge"] = value.max_password_age
    if value.password_reuse_prevention is not None:
        shape["PasswordReusePrevention"] = value.password_reuse_prevention
    shape["HardExpiry"] = value.hard_expiry
    return shape
