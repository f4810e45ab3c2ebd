"""
The IAM operation registry: one table of AWS IAM operations.

Each ``Operation`` has AWS's name (``CreateUser``), its parameters with AWS's
names and types, and a handler that calls the service layer and returns the
response shaped as ``aws iam ... --output json`` prints it (``{}`` for
operations without output). ``invoke()`` validates parameters the way AWS
does (unknown, missing and mistyped parameters are ``ValidationError``) and
runs the handler.

``gateway iam <operation>`` builds its flags from this table, and the HTTP IAM
API decodes Query-protocol parameters into it, so it knows neither argparse
nor HTTP. Integer and boolean parameters also accept their Query-protocol
text (``"3600"``, ``"true"``).

Gateway extensions to AWS's operations, documented where they are declared:
``Force`` on DeleteUser, DeleteGroup and DeleteRole; ``OtpauthUri`` in
CreateVirtualMFADevice's response. Listing operations return everything at once
(no ``Marker``/``MaxItems``).

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, cast

from gateway.errors import InvalidInput
from gateway.iam import documents, responses
from gateway.iam.policies import PrincipalKind
from gateway.iam.responses import Shape
from gateway.iam.service import IAM

ParamType = Literal["string", "integer", "boolean", "strings", "tags", "document"]

_EXPECTED: dict[ParamType, str] = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "a boolean",
    "strings": "a list of strings",
    "tags": "a list of Key/Value pairs",
    "document": "a JSON policy document",
}


@dataclass(frozen=True, slots=True)
class Param:
    """
    One request parameter: AWS's member name, its type and whether it is required.

    ``caller`` marks a user name AWS fills in with the calling IAM user's when it is
    left out (``invoke(..., caller=...)``); without a caller it is required.
    """

    name: str
    type: ParamType = "string"
    required: bool = False
    choices: tuple[str, ...] = ()
    caller: bool = False
    help: str = ""

    @property
    def member(self) -> str:
        """
        The name AWS's validation messages use: ``userName`` for ``UserName``.
        """
        return self.name[:1].lower() + self.name[1:]


@dataclass(frozen=True, slots=True)
class Args:
    """
    An operation's validated parameters, with typed accessors for the handlers.

    # INVARIANT: only ``validate()`` builds one, so every value already has its
    # parameter's type and the casts below hold.
    """

    values: Mapping[str, object]

    def text(self, name: str) -> str:
        return cast(str, self.values[name])

    def maybe_text(self, name: str) -> str | None:
        return cast(str | None, self.values.get(name))

    def integer(self, name: str) -> int | None:
        return cast(int | None, self.values.get(name))

    def flag(self, name: str) -> bool | None:
        return cast(bool | None, self.values.get(name))

    def strings(self, name: str) -> list[str]:
        return cast(list[str], self.values.get(name, []))

    def raw(self, name: str) -> object:
        return self.values.get(name)


Handler = Callable[[IAM, Args], Awaitable[Shape]]


@dataclass(frozen=True, slots=True)
class Operation:
    """
    One IAM operation: AWS's name, its parameters and the handler that runs it.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    handler: Handler

    @property
    def action(self) -> str:
        """
        The IAM action a caller must be allowed: ``iam:CreateUser``.
        """
        return f"iam:{self.name}"

    @property
    def is_read_only(self) -> bool:
        """
        True for operations that change nothing (``Get*`` and ``List*``).
        """
        return self.name.startswith(("Get", "List"))

    @property
    def is_paginated(self) -> bool:
        """
        True for operations AWS paginates; the aws CLI prints their result without
        ``IsTruncated``/``Marker``, and so does ``invoke()``: the HTTP API adds
        ``IsTruncated=false`` (everything is returned at once).
        """
        return self.name.startswith("List") or self.name == "GetGroup"

    def param(self, name: str) -> Param | None:
        return next((param for param in self.params if param.name == name), None)


_TABLE: dict[str, Operation] = {}

OPERATIONS: Mapping[str, Operation] = MappingProxyType(_TABLE)
"""
Every IAM operation the gateway implements, by AWS name.
"""


def _operation(name: str, summary: str, *params: Param) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _TABLE[name] = Operation(name, summary, params, handler)
        return handler

    return register


async def invoke(
    iam: IAM, name: str, params: Mapping[str, object], *, caller: str | None = None
) -> Shape:
    """
    Validate ``params`` for the operation ``name`` and run it.

    Args:
        iam: the service for the account the operation acts on.
        name: AWS's operation name (``CreateUser``).
        params: AWS's parameter names to values; ``None`` counts as absent.
        caller: the calling IAM user's name, filled into the user-name parameters
            AWS defaults to the caller (``CreateAccessKey`` without ``UserName``).

    Returns:
        The response shaped as the aws CLI prints it (``{}`` when there is none).

    Raises:
        InvalidInput: ``InvalidAction`` for an unknown operation; ``ValidationError``
            for an unknown, missing or mistyped parameter.
        GatewayError: whatever the service raises (``NoSuchEntity``, ...).
    """
    operation = OPERATIONS.get(name)
    if operation is None:
        raise InvalidInput(
            f"The action {name} is not valid for this web service.", code="InvalidAction"
        )
    return await operation.handler(iam, validate(operation, params, caller=caller))


def validate(
    operation: Operation, params: Mapping[str, object], *, caller: str | None = None
) -> Args:
    """
    Check and normalize parameters: integers and booleans given as text are converted.

    Raises:
        InvalidInput: ``ValidationError`` naming every missing or mistyped parameter
            (AWS's wording), or the first unknown one.
    """
    known = {param.name for param in operation.params}
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise InvalidInput(f"unknown parameter `{key}` for operation `{operation.name}`{hint}")
    values: dict[str, object] = {}
    problems: list[str] = []
    for param in operation.params:
        value = params.get(param.name)
        if value is None and param.caller:
            value = caller
        if value is None:
            if param.required or param.caller:
                problems.append(
                    f"Value null at '{param.member}' failed to satisfy constraint: "
                    "Member must not be null"
                )
            continue
        converted = _convert(param, value)
        if converted is None:
            problems.append(
                f"Value at '{param.member}' failed to satisfy constraint: "
                f"Member must be {_EXPECTED[param.type]}"
            )
        elif param.choices and converted not in param.choices:
            problems.append(
                f"Value '{converted}' at '{param.member}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(param.choices)}]"
            )
        else:
            values[param.name] = converted
    if problems:
        count = len(problems)
        plural = "error" if count == 1 else "errors"
        raise InvalidInput(f"{count} validation {plural} detected: {'; '.join(problems)}")
    return Args(MappingProxyType(values))


_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _convert(param: Param, value: object) -> object | None:
    """
    Return ``value`` as the parameter's type, or None when it does not fit.
    """
    kind = param.type
    if kind == "string":
        return value if isinstance(value, str) else None
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            return int(value)
        return None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    if kind == "strings":
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return list(value)
        return None
    if kind == "tags":
        if isinstance(value, list | tuple) and all(_is_tag(item) for item in value):
            return [dict(item) for item in value]
        return None
    # A document is JSON text, or an object already decoded (re-encoded by the service).
    return value if isinstance(value, str | dict) else None


def _is_tag(item: object) -> bool:
    return (
        isinstance(item, Mapping)
        and set(item) <= {"Key", "Value"}
        and isinstance(item.get("Key"), str)
        and isinstance(item.get("Value", ""), str)
    )


# --- parameters used by many operations -------------------------------------------------------

USER = Param("UserName", required=True, help="the name of the user")
CALLER = Param("UserName", caller=True, help="the name of the user")
GROUP = Param("GroupName", required=True, help="the name of the group")
ROLE = Param("RoleName", required=True, help="the name of the role")
POLICY_ARN = Param("PolicyArn", required=True, help="the ARN of the managed policy")
POLICY_NAME = Param("PolicyName", required=True, help="the name of the policy")
DOCUMENT = Param("PolicyDocument", "document", required=True, help="the JSON policy document")
PATH = Param("Path", help="the path, `/` by default (for example `/division/team/`)")
PATH_PREFIX = Param("PathPrefix", help="list only what has a path starting with this")
TAGS = Param("Tags", "tags", help="tags as Key/Value pairs")
TAGS_REQUIRED = Param("Tags", "tags", required=True, help="tags as Key/Value pairs")
TAG_KEYS = Param("TagKeys", "strings", required=True, help="the keys of the tags to remove")
BOUNDARY = Param("PermissionsBoundary", help="the ARN of the managed policy used as boundary")
FORCE = Param(
    "Force",
    "boolean",
    help="gateway extension: first remove whatever blocks the deletion",
)


async def _boundary_uses(iam: IAM) -> dict[str, int]:
    counts: dict[str, int] = {}
    for arn in [user.permissions_boundary for user in await iam.list_users()] + [
        role.permissions_boundary for role in await iam.list_roles()
    ]:
        if arn is not None:
            counts[arn] = counts.get(arn, 0) + 1
    return counts


def _path_prefix(args: Args) -> str:
    return args.maybe_text("PathPrefix") or "/"


# --- users ------------------------------------------------------------------------------------


@_operation("CreateUser", "create an IAM user", USER, PATH, BOUNDARY, TAGS)
async def _create_user(iam: IAM, args: Args) -> Shape:
    user = await iam.create_user(
        args.text("UserName"),
        path=args.maybe_text("Path"),
        permissions_boundary=args.maybe_text("PermissionsBoundary"),
        tags=args.raw("Tags"),
    )
    return {"User": responses.user(user, with_tags=True)}


@_operation("GetUser", "show an IAM user", CALLER)
async def _get_user(iam: IAM, args: Args) -> Shape:
    return {"User": responses.user(await iam.get_user(args.text("UserName")), with_tags=True)}


@_operation("ListUsers", "list the IAM users", PATH_PREFIX)
async def _list_users(iam: IAM, args: Args) -> Shape:
    users = await iam.list_users(path_prefix=_path_prefix(args))
    return {"Users": [responses.user(user) for user in users]}


@_operation(
    "UpdateUser",
    "rename a user or change its path",
    USER,
    Param("NewUserName", help="the new name"),
    Param("NewPath", help="the new path"),
)
async def _update_user(iam: IAM, args: Args) -> Shape:
    await iam.update_user(
        args.text("UserName"),
        new_user_name=args.maybe_text("NewUserName"),
        new_path=args.maybe_text("NewPath"),
    )
    return {}


@_operation(
    "DeleteUser", "delete a user (refused while it has credentials or policies)", USER, FORCE
)
async def _delete_user(iam: IAM, args: Args) -> Shape:
    await iam.delete_user(args.text("UserName"), force=bool(args.flag("Force")))
    return {}


@_operation("TagUser", "add or overwrite tags on a user", USER, TAGS_REQUIRED)
async def _tag_user(iam: IAM, args: Args) -> Shape:
    await iam.tag_user(args.text("UserName"), args.raw("Tags"))
    return {}


@_operation("UntagUser", "remove tags from a user", USER, TAG_KEYS)
async def _untag_user(iam: IAM, args: Args) -> Shape:
    await iam.untag_user(args.text("UserName"), args.strings("TagKeys"))
    return {}


@_operation("ListUserTags", "list a user's tags", USER)
async def _list_user_tags(iam: IAM, args: Args) -> Shape:
    user = await iam.get_user(args.text("UserName"))
    return {"Tags": responses.tags(user.tags)}


@_operation(
    "PutUserPermissionsBoundary",
    "set a user's permissions boundary",
    USER,
    Param("PermissionsBoundary", required=True, help="the ARN of the managed policy"),
)
async def _put_user_boundary(iam: IAM, args: Args) -> Shape:
    await iam.put_user_permissions_boundary(args.text("UserName"), args.text("PermissionsBoundary"))
    return {}


@_operation("DeleteUserPermissionsBoundary", "remove a user's permissions boundary", USER)
async def _delete_user_boundary(iam: IAM, args: Args) -> Shape:
    await iam.delete_user_permissions_boundary(args.text("UserName"))
    return {}


# --- groups -----------------------------------------------------------------------------------


@_operation("CreateGroup", "create a group", GROUP, PATH)
async def _create_group(iam: IAM, args: Args) -> Shape:
    group = await iam.create_group(args.text("GroupName"), path=args.maybe_text("Path"))
    return {"Group": responses.group(group)}


@_operation("GetGroup", "show a group and its members", GROUP)
async def _get_group(iam: IAM, args: Args) -> Shape:
    group, users = await iam.get_group(args.text("GroupName"))
    return {
        "Users": [responses.user(user) for user in users],
        "Group": responses.group(group),
    }


@_operation("ListGroups", "list the groups", PATH_PREFIX)
async def _list_groups(iam: IAM, args: Args) -> Shape:
    groups = await iam.list_groups(path_prefix=_path_prefix(args))
    return {"Groups": [responses.group(group) for group in groups]}


@_operation("ListGroupsForUser", "list the groups a user belongs to", USER)
async def _list_groups_for_user(iam: IAM, args: Args) -> Shape:
    groups = await iam.list_groups_for_user(args.text("UserName"))
    return {"Groups": [responses.group(group) for group in groups]}


@_operation(
    "UpdateGroup",
    "rename a group or change its path",
    GROUP,
    Param("NewGroupName", help="the new name"),
    Param("NewPath", help="the new path"),
)
async def _update_group(iam: IAM, args: Args) -> Shape:
    await iam.update_group(
        args.text("GroupName"),
        new_group_name=args.maybe_text("NewGroupName"),
        new_path=args.maybe_text("NewPath"),
    )
    return {}


@_operation(
    "DeleteGroup", "delete a group (refused while it has members or policies)", GROUP, FORCE
)
async def _delete_group(iam: IAM, args: Args) -> Shape:
    await iam.delete_group(args.text("GroupName"), force=bool(args.flag("Force")))
    return {}


@_operation("AddUserToGroup", "add a user to a group", GROUP, USER)
async def _add_user_to_group(iam: IAM, args: Args) -> Shape:
    await iam.add_user_to_group(args.text("GroupName"), args.text("UserName"))
    return {}


@_operation("RemoveUserFromGroup", "remove a user from a group", GROUP, USER)
async def _remove_user_from_group(iam: IAM, args: Args) -> Shape:
    await iam.remove_user_from_group(args.text("GroupName"), args.text("UserName"))
    return {}


# --- roles ------------------------------------------------------------------------------------


@_operation(
    "CreateRole",
    "create a role with a trust policy",
    ROLE,
    Param(
        "AssumeRolePolicyDocument",
        "document",
        required=True,
        help="the trust policy: who may assume the role",
    ),
    PATH,
    Param("Description", help="a description of the role"),
    Param("MaxSessionDuration", "integer", help="seconds, 3600 to 43200 (default 3600)"),
    BOUNDARY,
    TAGS,
)
async def _create_role(iam: IAM, args: Args) -> Shape:
    role = await iam.create_role(
        args.text("RoleName"),
        args.raw("AssumeRolePolicyDocument"),
        path=args.maybe_text("Path"),
        description=args.maybe_text("Description"),
        max_session_duration=args.integer("MaxSessionDuration") or 3600,
        permissions_boundary=args.maybe_text("PermissionsBoundary"),
        tags=args.raw("Tags"),
    )
    return {"Role": responses.role(role, with_tags=True)}


@_operation("GetRole", "show a role", ROLE)
async def _get_role(iam: IAM, args: Args) -> Shape:
    role = responses.role(await iam.get_role(args.text("RoleName")), with_tags=True)
    return {"Role": {**role, "RoleLastUsed": {}}}


@_operation("ListRoles", "list the roles", PATH_PREFIX)
async def _list_roles(iam: IAM, args: Args) -> Shape:
    roles = await iam.list_roles(path_prefix=_path_prefix(args))
    return {"Roles": [responses.role(role) for role in roles]}


@_operation(
    "UpdateRole",
    "change a role's description or maximum session duration",
    ROLE,
    Param("Description", help="the new description"),
    Param("MaxSessionDuration", "integer", help="seconds, 3600 to 43200"),
)
async def _update_role(iam: IAM, args: Args) -> Shape:
    await iam.update_role(
        args.text("RoleName"),
        description=args.maybe_text("Description"),
        max_session_duration=args.integer("MaxSessionDuration"),
    )
    return {}


@_operation(
    "UpdateAssumeRolePolicy",
    "replace a role's trust policy",
    ROLE,
    Param("PolicyDocument", "document", required=True, help="the new trust policy"),
)
async def _update_assume_role_policy(iam: IAM, args: Args) -> Shape:
    await iam.update_assume_role_policy(args.text("RoleName"), args.raw("PolicyDocument"))
    return {}


@_operation("DeleteRole", "delete a role (refused while it has policies)", ROLE, FORCE)
async def _delete_role(iam: IAM, args: Args) -> Shape:
    await iam.delete_role(args.text("RoleName"), force=bool(args.flag("Force")))
    return {}


@_operation("TagRole", "add or overwrite tags on a role", ROLE, TAGS_REQUIRED)
async def _tag_role(iam: IAM, args: Args) -> Shape:
    await iam.tag_role(args.text("RoleName"), args.raw("Tags"))
    return {}


@_operation("UntagRole", "remove tags from a role", ROLE, TAG_KEYS)
async def _untag_role(iam: IAM, args: Args) -> Shape:
    await iam.untag_role(args.text("RoleName"), args.strings("TagKeys"))
    return {}


@_operation("ListRoleTags", "list a role's tags", ROLE)
async def _list_role_tags(iam: IAM, args: Args) -> Shape:
    role = await iam.get_role(args.text("RoleName"))
    return {"Tags": responses.tags(role.tags)}


@_operation(
    "PutRolePermissionsBoundary",
    "set a role's permissions boundary",
    ROLE,
    Param("PermissionsBoundary", required=True, help="the ARN of the managed policy"),
)
async def _put_role_boundary(iam: IAM, args: Args) -> Shape:
    await iam.put_role_permissions_boundary(args.text("RoleName"), args.text("PermissionsBoundary"))
    return {}


@_operation("DeleteRolePermissionsBoundary", "remove a role's permissions boundary", ROLE)
async def _delete_role_boundary(iam: IAM, args: Args) -> Shape:
    await iam.delete_role_permissions_boundary(args.text("RoleName"))
    return {}


# --- managed policies -------------------------------------------------------------------------


@_operation(
    "CreatePolicy",
    "create a customer managed policy",
    POLICY_NAME,
    DOCUMENT,
    PATH,
    Param("Description", help="a description of the policy"),
)
async def _create_policy(iam: IAM, args: Args) -> Shape:
    policy = await iam.create_policy(
        args.text("PolicyName"),
        args.raw("PolicyDocument"),
        path=args.maybe_text("Path"),
        description=args.maybe_text("Description"),
    )
    return {"Policy": responses.policy(policy)}


@_operation("GetPolicy", "show a managed policy", POLICY_ARN)
async def _get_policy(iam: IAM, args: Args) -> Shape:
    policy = await iam.get_policy(args.text("PolicyArn"))
    uses = (await _boundary_uses(iam)).get(policy.arn, 0)
    return {"Policy": responses.policy(policy, boundary_uses=uses)}


@_operation(
    "ListPolicies",
    "list the managed policies",
    Param("Scope", choices=("All", "AWS", "Local"), help="All (default), AWS or Local"),
    Param("OnlyAttached", "boolean", help="list only policies attached to something"),
    PATH_PREFIX,
)
async def _list_policies(iam: IAM, args: Args) -> Shape:
    scope = cast(Literal["All", "AWS", "Local"], args.maybe_text("Scope") or "All")
    policies = await iam.list_policies(
        scope=scope,
        only_attached=bool(args.flag("OnlyAttached")),
        path_prefix=_path_prefix(args),
    )
    uses = await _boundary_uses(iam)
    return {
        "Policies": [
            responses.policy(policy, boundary_uses=uses.get(policy.arn, 0)) for policy in policies
        ]
    }


@_operation("DeletePolicy", "delete a customer managed policy", POLICY_ARN)
async def _delete_policy(iam: IAM, args: Args) -> Shape:
    await iam.delete_policy(args.text("PolicyArn"))
    return {}


@_operation(
    "CreatePolicyVersion",
    "add a version to a managed policy",
    POLICY_ARN,
    DOCUMENT,
    Param("SetAsDefault", "boolean", help="make the new version the default"),
)
async def _create_policy_version(iam: IAM, args: Args) -> Shape:
    version = await iam.create_policy_version(
        args.text("PolicyArn"),
        args.raw("PolicyDocument"),
        set_as_default=bool(args.flag("SetAsDefault")),
    )
    return {"PolicyVersion": responses.policy_version(version, with_document=False)}


VERSION = Param("VersionId", required=True, help="the version, for example `v2`")


@_operation("GetPolicyVersion", "show a version of a managed policy", POLICY_ARN, VERSION)
async def _get_policy_version(iam: IAM, args: Args) -> Shape:
    version = await iam.get_policy_version(args.text("PolicyArn"), args.text("VersionId"))
    return {"PolicyVersion": responses.policy_version(version)}


@_operation("ListPolicyVersions", "list the versions of a managed policy", POLICY_ARN)
async def _list_policy_versions(iam: IAM, args: Args) -> Shape:
    versions = await iam.list_policy_versions(args.text("PolicyArn"))
    return {
        "Versions": [responses.policy_version(v, with_document=False) for v in versions],
    }


@_operation("DeletePolicyVersion", "delete a non-default policy version", POLICY_ARN, VERSION)
async def _delete_policy_version(iam: IAM, args: Args) -> Shape:
    await iam.delete_policy_version(args.text("PolicyArn"), args.text("VersionId"))
    return {}


@_operation("SetDefaultPolicyVersion", "make a version the default", POLICY_ARN, VERSION)
async def _set_default_policy_version(iam: IAM, args: Args) -> Shape:
    await iam.set_default_policy_version(args.text("PolicyArn"), args.text("VersionId"))
    return {}


@_operation(
    "ListEntitiesForPolicy",
    "list the users, groups and roles a managed policy is attached to",
    POLICY_ARN,
    Param("EntityFilter", choices=("User", "Group", "Role"), help="User, Group or Role"),
)
async def _list_entities_for_policy(iam: IAM, args: Args) -> Shape:
    found = await iam.list_entities_for_policy(args.text("PolicyArn"))
    wanted = args.maybe_text("EntityFilter")
    shape: Shape = {}
    if wanted in (None, "Group"):
        shape["PolicyGroups"] = [{"GroupName": n, "GroupId": i} for n, i in found.groups]
    if wanted in (None, "User"):
        shape["PolicyUsers"] = [{"UserName": n, "UserId": i} for n, i in found.users]
    if wanted in (None, "Role"):
        shape["PolicyRoles"] = [{"RoleName": n, "RoleId": i} for n, i in found.roles]
    return shape


# --- attachments and inline policies, the same six operations for each kind -------------------

_KINDS: tuple[tuple[PrincipalKind, str, Param], ...] = (
    ("user", "User", USER),
    ("group", "Group", GROUP),
    ("role", "Role", ROLE),
)


def _register_principal_policies(kind: PrincipalKind, noun: str, who: Param) -> None:
    key = who.name

    async def attach(iam: IAM, args: Args) -> Shape:
        await iam.attach_policy(kind, args.text(key), args.text("PolicyArn"))
        return {}

    async def detach(iam: IAM, args: Args) -> Shape:
        await iam.detach_policy(kind, args.text(key), args.text("PolicyArn"))
        return {}

    async def list_attached(iam: IAM, args: Args) -> Shape:
        found = await iam.list_attached_policies(kind, args.text(key))
        prefix = _path_prefix(args)
        return {
            "AttachedPolicies": [
                responses.attached_policy(p)
                for p in found
                if _policy_path(p.policy_arn).startswith(prefix)
            ],
        }

    async def put(iam: IAM, args: Args) -> Shape:
        await iam.put_inline_policy(
            kind, args.text(key), args.text("PolicyName"), args.raw("PolicyDocument")
        )
        return {}

    async def get(iam: IAM, args: Args) -> Shape:
        found = await iam.get_inline_policy(kind, args.text(key), args.text("PolicyName"))
        return {
            key: args.text(key),
            "PolicyName": found.policy_name,
            "PolicyDocument": documents.decode(found.document),
        }

    async def delete(iam: IAM, args: Args) -> Shape:
        await iam.delete_inline_policy(kind, args.text(key), args.text("PolicyName"))
        return {}

    async def list_inline(iam: IAM, args: Args) -> Shape:
        names = await iam.list_inline_policies(kind, args.text(key))
        return {"PolicyNames": names}

    plural = "Policies"
    table = [
        (f"Attach{noun}Policy", f"attach a managed policy to a {kind}", attach, (POLICY_ARN,)),
        (f"Detach{noun}Policy", f"detach a managed policy from a {kind}", detach, (POLICY_ARN,)),
        (
            f"ListAttached{noun}{plural}",
            f"list the managed policies attached to a {kind}",
            list_attached,
            (PATH_PREFIX,),
        ),
        (
            f"Put{noun}Policy",
            f"create or replace a {kind}'s inline policy",
            put,
            (POLICY_NAME, DOCUMENT),
        ),
        (f"Get{noun}Policy", f"show a {kind}'s inline policy", get, (POLICY_NAME,)),
        (f"Delete{noun}Policy", f"delete a {kind}'s inline policy", delete, (POLICY_NAME,)),
        (f"List{noun}{plural}", f"list a {kind}'s inline policy names", list_inline, ()),
    ]
    for name, summary, handler, extra in table:
        _operation(name, summary, who, *extra)(handler)


def _policy_path(arn: str) -> str:
    # arn:aws:iam::<account>:policy<path><name>
    resource = arn.split(":", 5)[-1]
    return resource[len("policy") : resource.rfind("/") + 1] or "/"


for _kind, _noun, _who in _KINDS:
    _register_principal_policies(_kind, _noun, _who)


# --- access keys ------------------------------------------------------------------------------

KEY_ID = Param("AccessKeyId", required=True, help="the access key id (AKIA...)")


@_operation("CreateAccessKey", "create an access key (the secret is shown once)", CALLER)
async def _create_access_key(iam: IAM, args: Args) -> Shape:
    key = await iam.create_access_key(args.text("UserName"))
    return {"AccessKey": responses.new_access_key(key)}


@_operation("ListAccessKeys", "list a user's access keys", CALLER)
async def _list_access_keys(iam: IAM, args: Args) -> Shape:
    keys = await iam.list_access_keys(args.text("UserName"))
    return {"AccessKeyMetadata": [responses.access_key(key) for key in keys]}


@_operation(
    "UpdateAccessKey",
    "activate or deactivate an access key",
    CALLER,
    KEY_ID,
    Param("Status", required=True, choices=("Active", "Inactive"), help="Active or Inactive"),
)
async def _update_access_key(iam: IAM, args: Args) -> Shape:
    await iam.update_access_key(
        args.text("UserName"), args.text("AccessKeyId"), args.text("Status")
    )
    return {}


@_operation("DeleteAccessKey", "delete an access key for good", CALLER, KEY_ID)
async def _delete_access_key(iam: IAM, args: Args) -> Shape:
    await iam.delete_access_key(args.text("UserName"), args.text("AccessKeyId"))
    return {}


@_operation("GetAccessKeyLastUsed", "show when an access key was last used", KEY_ID)
async def _get_access_key_last_used(iam: IAM, args: Args) -> Shape:
    return responses.access_key_last_used(
        await iam.get_access_key_last_used(args.text("AccessKeyId"))
    )


# --- login profiles ---------------------------------------------------------------------------

RESET = Param(
    "PasswordResetRequired", "boolean", help="the user must set a new password at next sign-in"
)


@_operation(
    "CreateLoginProfile",
    "give a user a console password",
    USER,
    Param("Password", required=True, help="the new password"),
    RESET,
)
async def _create_login_profile(iam: IAM, args: Args) -> Shape:
    profile = await iam.create_login_profile(
        args.text("UserName"),
        args.text("Password"),
        password_reset_required=bool(args.flag("PasswordResetRequired")),
    )
    return {"LoginProfile": responses.login_profile(profile)}


@_operation("GetLoginProfile", "show a user's console login profile", CALLER)
async def _get_login_profile(iam: IAM, args: Args) -> Shape:
    profile = await iam.get_login_profile(args.text("UserName"))
    return {"LoginProfile": responses.login_profile(profile)}


@_operation(
    "UpdateLoginProfile",
    "change a user's console password or reset requirement",
    USER,
    Param("Password", help="the new password"),
    RESET,
)
async def _update_login_profile(iam: IAM, args: Args) -> Shape:
    await iam.update_login_profile(
        args.text("UserName"),
        password=args.maybe_text("Password"),
        password_reset_required=args.flag("PasswordResetRequired"),
    )
    return {}


@_operation("DeleteLoginProfile", "remove a user's console password", USER)
async def _delete_login_profile(iam: IAM, args: Args) -> Shape:
    await iam.delete_login_profile(args.text("UserName"))
    return {}


# --- MFA devices ------------------------------------------------------------------------------

SERIAL = Param("SerialNumber", required=True, help="the device's serial number (its ARN)")


@_operation(
    "CreateVirtualMFADevice",
    "create a virtual MFA device (the seed is shown once)",
    Param("VirtualMFADeviceName", required=True, help="the device's name"),
    PATH,
)
async def _create_virtual_mfa_device(iam: IAM, args: Args) -> Shape:
    device = await iam.create_virtual_mfa_device(
        args.text("VirtualMFADeviceName"), path=args.maybe_text("Path")
    )
    return {"VirtualMFADevice": responses.new_virtual_mfa_device(device)}


@_operation(
    "EnableMFADevice",
    "assign an MFA device to a user with two consecutive codes",
    USER,
    SERIAL,
    Param("AuthenticationCode1", required=True, help="a code from the device"),
    Param("AuthenticationCode2", required=True, help="the next code from the device"),
)
async def _enable_mfa_device(iam: IAM, args: Args) -> Shape:
    await iam.enable_mfa_device(
        args.text("UserName"),
        args.text("SerialNumber"),
        args.text("AuthenticationCode1"),
        args.text("AuthenticationCode2"),
    )
    return {}


@_operation("DeactivateMFADevice", "unassign an MFA device from a user", CALLER, SERIAL)
async def _deactivate_mfa_device(iam: IAM, args: Args) -> Shape:
    await iam.deactivate_mfa_device(args.text("UserName"), args.text("SerialNumber"))
    return {}


@_operation("DeleteVirtualMFADevice", "delete an unassigned virtual MFA device", SERIAL)
async def _delete_virtual_mfa_device(iam: IAM, args: Args) -> Shape:
    await iam.delete_virtual_mfa_device(args.text("SerialNumber"))
    return {}


@_operation("ListMFADevices", "list a user's MFA devices", CALLER)
async def _list_mfa_devices(iam: IAM, args: Args) -> Shape:
    devices = await iam.list_mfa_devices(args.text("UserName"))
    return {"MFADevices": [responses.mfa_device(d) for d in devices]}


@_operation(
    "ListVirtualMFADevices",
    "list the account's virtual MFA devices",
    Param(
        "AssignmentStatus",
        choices=("Assigned", "Unassigned", "Any"),
        help="Assigned, Unassigned or Any (default)",
    ),
)
async def _list_virtual_mfa_devices(iam: IAM, args: Args) -> Shape:
    status = args.maybe_text("AssignmentStatus") or "Any"
    shapes: list[Shape] = []
    for device in await iam.list_virtual_mfa_devices():
        assigned = device.user_name is not None
        if status != "Any" and assigned != (status == "Assigned"):
            continue
        owner = await iam.get_user(device.user_name) if device.user_name else None
        shapes.append(responses.virtual_mfa_device(device, owner))
    return {"VirtualMFADevices": shapes}


# --- the account ------------------------------------------------------------------------------

_PASSWORD_POLICY_PARAMS = (
    Param("MinimumPasswordLength", "integer", help="6 to 128 (default 8)"),
    Param("RequireSymbols", "boolean", help="require one of !@#$%%^&*()_+-=[]{}|'"),
    Param("RequireNumbers", "boolean", help="require a digit"),
    Param("RequireUppercaseCharacters", "boolean", help="require an uppercase letter"),
    Param("RequireLowercaseCharacters", "boolean", help="require a lowercase letter"),
    Param("AllowUsersToChangePassword", "boolean", help="users may change their own password"),
    Param("MaxPasswordAge", "integer", help="days a password is valid, 1 to 1095"),
    Param("PasswordReusePrevention", "integer", help="previous passwords refused, 1 to 24"),
    Param("HardExpiry", "boolean", help="an expired password can only be reset by an admin"),
)


@_operation(
    "UpdateAccountPasswordPolicy",
    "set the account password policy (omitted fields take their defaults)",
    *_PASSWORD_POLICY_PARAMS,
)
async def _update_password_policy(iam: IAM, args: Args) -> Shape:
    await iam.update_account_password_policy(**dict(args.values))
    return {}


@_operation("GetAccountPasswordPolicy", "show the account password policy")
async def _get_password_policy(iam: IAM, args: Args) -> Shape:
    return {"PasswordPolicy": responses.password_policy(await iam.get_account_password_policy())}


@_operation("DeleteAccountPasswordPolicy", "remove the account password policy")
async def _delete_password_policy(iam: IAM, args: Args) -> Shape:
    await iam.delete_account_password_policy()
    return {}


ALIAS = Param("AccountAlias", required=True, help="the alias used in the sign-in URL")


@_operation("CreateAccountAlias", "set the account alias (sign-in URL)", ALIAS)
async def _create_account_alias(iam: IAM, args: Args) -> Shape:
    await iam.create_account_alias(args.text("AccountAlias"))
    return {}


@_operation("DeleteAccountAlias", "remove the account alias", ALIAS)
async def _delete_account_alias(iam: IAM, args: Args) -> Shape:
    await iam.delete_account_alias(args.text("AccountAlias"))
    return {}


@_operation("ListAccountAliases", "list the account alias")
async def _list_account_aliases(iam: IAM, args: Args) -> Shape:
    return {"AccountAliases": await iam.list_account_aliases()}
