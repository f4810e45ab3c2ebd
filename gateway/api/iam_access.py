"""
Which IAM resource each IAM operation acts on, and the authorization of a call.

AWS authorizes every IAM API call as ``iam:<Operation>`` on the resource its
"Actions, resources and condition keys" table names: the user's ARN for user
operations, the group's, role's or policy's ARN, ``arn:aws:iam::ACCOUNT:mfa/NAME``
for virtual MFA devices, and ``*`` for account-level operations (ListUsers,
GetAccountPasswordPolicy, ...). The ARN carries the entity's path, looked up
when the entity exists. Authorization comes before any existence check, so a
caller without permission learns nothing about which names exist.

Attach/detach calls carry ``iam:PolicyARN``, boundary changes
``iam:PermissionsBoundary`` and tagging calls ``aws:TagKeys`` and
``aws:RequestTag/<key>`` as condition keys, as AWS sets them; creating a tagged
user or role also needs ``iam:TagUser`` / ``iam:TagRole``.

Layer: the edge (``gateway.api``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from gateway.api.query import QueryCall, authorize
from gateway.errors import AccessDenied, GatewayError, InvalidInput
from gateway.iam import IAM
from gateway.iam.naming import arn
from gateway.policy import ContextValue, Verdict
from gateway.principal import PrincipalType

Kind = Literal["user", "group", "role", "policy", "mfa", "key", "source", "account"]

_USER_OPS = (
    "CreateUser GetUser UpdateUser DeleteUser TagUser UntagUser ListUserTags "
    "PutUserPermissionsBoundary DeleteUserPermissionsBoundary ListGroupsForUser "
    "AttachUserPolicy DetachUserPolicy ListAttachedUserPolicies PutUserPolicy GetUserPolicy "
    "DeleteUserPolicy ListUserPolicies CreateAccessKey ListAccessKeys UpdateAccessKey "
    "DeleteAccessKey CreateLoginProfile GetLoginProfile UpdateLoginProfile DeleteLoginProfile "
    "ChangePassword EnableMFADevice DeactivateMFADevice ResyncMFADevice ListMFADevices"
)
_GROUP_OPS = (
    "CreateGroup GetGroup UpdateGroup DeleteGroup AddUserToGroup RemoveUserFromGroup "
    "AttachGroupPolicy DetachGroupPolicy ListAttachedGroupPolicies PutGroupPolicy "
    "GetGroupPolicy DeleteGroupPolicy ListGroupPolicies"
)
_ROLE_OPS = (
    "CreateRole GetRole UpdateRole UpdateAssumeRolePolicy DeleteRole TagRole UntagRole "
    "ListRoleTags PutRolePermissionsBoundary DeleteRolePermissionsBoundary AttachRolePolicy "
    "DetachRolePolicy ListAttachedRolePolicies PutRolePolicy GetRolePolicy DeleteRolePolicy "
    "ListRolePolicies RevokeRoleSessions"
)
_POLICY_OPS = (
    "CreatePolicy GetPolicy DeletePolicy CreatePolicyVersion GetPolicyVersion "
    "ListPolicyVersions DeletePolicyVersion SetDefaultPolicyVersion ListEntitiesForPolicy"
)
_MFA_OPS = "CreateVirtualMFADevice DeleteVirtualMFADevice"

RESOURCE_KINDS: Final[Mapping[str, Kind]] = {
    **dict.fromkeys(_USER_OPS.split(), "user"),
    **dict.fromkeys(_GROUP_OPS.split(), "group"),
    **dict.fromkeys(_ROLE_OPS.split(), "role"),
    **dict.fromkeys(_POLICY_OPS.split(), "policy"),
    **dict.fromkeys(_MFA_OPS.split(), "mfa"),
    "GetAccessKeyLastUsed": "key",
    "SimulatePrincipalPolicy": "source",
}
"""
Operation -> the kind of resource it is authorized on; any other is account-level (``*``).
"""

_TAGGING = frozenset({"CreateUser", "CreateRole", "TagUser", "TagRole", "UntagUser", "UntagRole"})
# AWS: creating a tagged user or role also needs permission to tag it.
_TAG_ON_CREATE = {"CreateUser": "iam:TagUser", "CreateRole": "iam:TagRole"}
_ATTACH = frozenset(
    f"{verb}{kind}Policy" for verb in ("Attach", "Detach") for kind in ("User", "Group", "Role")
)


def caller_user(call: QueryCall) -> str | None:
    """
    The calling IAM user's name, which AWS fills in for a left-out ``UserName``.

    None for root and role sessions (AWS then requires ``UserName``).
    """
    if call.principal.type is PrincipalType.USER:
        return call.principal.user_name
    return None


async def _path_of(iam: IAM, kind: Kind, name: str) -> str:
    # The ARN carries the entity's path; an entity that does not exist gets `/`.
    try:
        if kind == "user":
            return (await iam.get_user(name)).path
        if kind == "group":
            return (await iam.get_group(name))[0].path
        return (await iam.get_role(name)).path
    except InvalidInput:
        return "/"  # no such entity (or a malformed name, refused by the operation)


async def resource_arn(
    iam: IAM, operation: str, params: Mapping[str, object], caller: str | None
) -> str:
    """
    Return the ARN ``operation`` is authorized on, given its (unvalidated) parameters.
    """
    kind = RESOURCE_KINDS.get(operation, "account")
    account = iam.account_id

    def text(name: str) -> str:
        value = params.get(name)
        return value if isinstance(value, str) else ""

    if kind == "user":
        name = text("UserName") or caller or ""
        if operation == "CreateUser":
            return arn(account, "user", text("Path") or "/", name)
        return arn(account, "user", await _path_of(iam, "user", name), name)
    if kind == "group":
        name = text("GroupName")
        if operation == "CreateGroup":
            return arn(account, "group", text("Path") or "/", name)
        return arn(account, "group", await _path_of(iam, "group", name), name)
    if kind == "role":
        name = text("RoleName")
        if operation == "CreateRole":
            return arn(account, "role", text("Path") or "/", name)
        return arn(account, "role", await _path_of(iam, "role", name), name)
    if kind == "policy":
        if operation == "CreatePolicy":
            return arn(account, "policy", text("Path") or "/", text("PolicyName"))
        return text("PolicyArn")
    if kind == "mfa":
        if operation == "CreateVirtualMFADevice":
            return arn(account, "mfa", text("Path") or "/", text("VirtualMFADeviceName"))
        return text("SerialNumber")
    if kind == "source":
        return text("PolicySourceArn")
    if kind == "key":
        try:
            owner = (await iam.get_access_key_last_used(text("AccessKeyId"))).user_name
        except InvalidInput:
            return arn(account, "user", "/", "*")
        return arn(account, "user", await _path_of(iam, "user", owner), owner)
    return "*"


def condition_keys(operation: str, params: Mapping[str, object]) -> dict[str, ContextValue]:
    """
    The IAM-specific condition keys AWS sets for ``operation``.
    """
    keys: dict[str, ContextValue] = {}
    policy_arn = params.get("PolicyArn")
    if operation in _ATTACH and isinstance(policy_arn, str):
        keys["iam:PolicyARN"] = policy_arn
    boundary = params.get("PermissionsBoundary")
    if isinstance(boundary, str) and boundary:
        keys["iam:PermissionsBoundary"] = boundary
    tags = params.get("Tags")
    if operation in _TAGGING and isinstance(tags, list):
        pairs = [(t.get("Key"), t.get("Value", "")) for t in tags if isinstance(t, Mapping)]
        keys["aws:TagKeys"] = [str(key) for key, _ in pairs]
        for key, value in pairs:
            keys[f"aws:RequestTag/{key}"] = str(value)
    tag_keys = params.get("TagKeys")
    if operation in _TAGGING and isinstance(tag_keys, list):
        keys["aws:TagKeys"] = [str(key) for key in tag_keys]
    return keys


async def authorize_operation(
    call: QueryCall, iam: IAM, operation: str, params: Mapping[str, object], caller: str | None
) -> None:
    """
    Authorize ``iam:<operation>`` on its resource for the caller (root always passes).

    ChangePassword follows AWS's rule: a user may change their own password when the
    account's password policy allows users to (``AllowUsersToChangePassword``), or
    when their policies allow ``iam:ChangePassword`` on their own ARN; an explicit
    Deny still wins.

    Raises:
        AccessDenied: the caller may not.
    """
    resource = await resource_arn(iam, operation, params, caller)
    extra = condition_keys(operation, params)
    tag_action = _TAG_ON_CREATE.get(operation)
    if tag_action is not None and params.get("Tags"):
        await authorize(call, action=tag_action, resource=resource, extra=extra)
    try:
        await authorize(call, action=f"iam:{operation}", resource=resource, extra=extra)
        renamed = _renamed_arn(iam.account_id, operation, params, resource)
        if renamed is not None and renamed != resource:
            # AWS: renaming or moving a user or group needs the permission on both the
            # source and the target ARN.
            await authorize(call, action=f"iam:{operation}", resource=renamed, extra=extra)
    except AccessDenied as denied:
        if operation != "ChangePassword" or not await _users_may_change(iam):
            raise
        decision = call.audit.decision
        if decision is None or decision.verdict is Verdict.EXPLICIT_DENY:
            raise denied from None


def _renamed_arn(
    account: str, operation: str, params: Mapping[str, object], source: str
) -> str | None:
    # The ARN an UpdateUser/UpdateGroup with NewUserName/NewGroupName/NewPath ends at.
    kind = {"UpdateUser": "user", "UpdateGroup": "group"}.get(operation)
    if kind is None:
        return None
    name_key = "NewUserName" if kind == "user" else "NewGroupName"
    new_name, new_path = params.get(name_key), params.get("NewPath")
    if not isinstance(new_name, str) and not isinstance(new_path, str):
        return None
    # The source is arn:aws:iam::ACCOUNT:KIND/PATH/NAME; keep what does not change.
    rest = source.split(":", 5)[-1].removeprefix(kind)
    cut = rest.rfind("/") + 1
    return arn(
        account,
        kind,
        new_path if isinstance(new_path, str) else rest[:cut],
        new_name if isinstance(new_name, str) else rest[cut:],
    )


async def _users_may_change(iam: IAM) -> bool:
    try:
        policy = await iam.get_account_password_policy()
    except GatewayError:
        return False
    return policy.allow_users_to_change_password
