"""
The IAM operations on roles: create, show, list, update, trust policy, delete, tags and
permissions boundary.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from gateway.iam import responses
from gateway.iam.operations.params import (
    BOUNDARY,
    FORCE,
    PATH,
    PATH_PREFIX,
    ROLE,
    TAG_KEYS,
    TAGS,
    TAGS_REQUIRED,
    Args,
    Param,
    path_prefix,
)
from gateway.iam.operations.registry import operation
from gateway.iam.responses import Shape
from gateway.iam.service import IAM

# --- roles ------------------------------------------------------------------------------------


@operation(
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


@operation("GetRole", "show a role", ROLE)
async def _get_role(iam: IAM, args: Args) -> Shape:
    role = responses.role(await iam.get_role(args.text("RoleName")), with_tags=True)
    return {"Role": {**role, "RoleLastUsed": {}}}


@operation("ListRoles", "list the roles", PATH_PREFIX)
async def _list_roles(iam: IAM, args: Args) -> Shape:
    roles = await iam.list_roles(path_prefix=path_prefix(args))
    return {"Roles": [responses.role(role) for role in roles]}


@operation(
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


@operation(
    "UpdateAssumeRolePolicy",
    "replace a role's trust policy",
    ROLE,
    Param("PolicyDocument", "document", required=True, help="the new trust policy"),
)
async def _update_assume_role_policy(iam: IAM, args: Args) -> Shape:
    await iam.update_assume_role_policy(args.text("RoleName"), args.raw("PolicyDocument"))
    return {}


@operation("DeleteRole", "delete a role (refused while it has policies)", ROLE, FORCE)
async def _delete_role(iam: IAM, args: Args) -> Shape:
    await iam.delete_role(args.text("RoleName"), force=bool(args.flag("Force")))
    return {}


@operation("TagRole", "add or overwrite tags on a role", ROLE, TAGS_REQUIRED)
async def _tag_role(iam: IAM, args: Args) -> Shape:
    await iam.tag_role(args.text("RoleName"), args.raw("Tags"))
    return {}


@operation("UntagRole", "remove tags from a role", ROLE, TAG_KEYS)
async def _untag_role(iam: IAM, args: Args) -> Shape:
    await iam.untag_role(args.text("RoleName"), args.strings("TagKeys"))
    return {}


@operation("ListRoleTags", "list a role's tags", ROLE)
async def _list_role_tags(iam: IAM, args: Args) -> Shape:
    role = await iam.get_role(args.text("RoleName"))
    return {"Tags": responses.tags(role.tags)}


@operation(
    "PutRolePermissionsBoundary",
    "set a role's permissions boundary",
    ROLE,
    Param("PermissionsBoundary", required=True, help="the ARN of the managed policy"),
)
async def _put_role_boundary(iam: IAM, args: Args) -> Shape:
    await iam.put_role_permissions_boundary(args.text("RoleName"), args.text("PermissionsBoundary"))
    return {}


@operation("DeleteRolePermissionsBoundary", "remove a role's permissions boundary", ROLE)
async def _delete_role_boundary(iam: IAM, args: Args) -> Shape:
    await iam.delete_role_permissions_boundary(args.text("RoleName"))
    return {}
