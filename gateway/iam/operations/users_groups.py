"""
The IAM operations on users and groups: create, show, list, update, delete, tag, and
membership.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from gateway.iam import responses
from gateway.iam.operations.params import (
    BOUNDARY,
    CALLER,
    FORCE,
    GROUP,
    PATH,
    PATH_PREFIX,
    TAG_KEYS,
    TAGS,
    TAGS_REQUIRED,
    USER,
    Args,
    Param,
    path_prefix,
)
from gateway.iam.operations.registry import operation
from gateway.iam.responses import Shape
from gateway.iam.service import IAM

# --- users ------------------------------------------------------------------------------------


@operation("CreateUser", "create an IAM user", USER, PATH, BOUNDARY, TAGS)
async def _create_user(iam: IAM, args: Args) -> Shape:
    user = await iam.create_user(
        args.text("UserName"),
        path=args.maybe_text("Path"),
        permissions_boundary=args.maybe_text("PermissionsBoundary"),
        tags=args.raw("Tags"),
    )
    return {"User": responses.user(user, with_tags=True)}


@operation("GetUser", "show an IAM user", CALLER)
async def _get_user(iam: IAM, args: Args) -> Shape:
    return {"User": responses.user(await iam.get_user(args.text("UserName")), with_tags=True)}


@operation("ListUsers", "list the IAM users", PATH_PREFIX)
async def _list_users(iam: IAM, args: Args) -> Shape:
    users = await iam.list_users(path_prefix=path_prefix(args))
    return {"Users": [responses.user(user) for user in users]}


@operation(
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


@operation(
    "DeleteUser", "delete a user (refused while it has credentials or policies)", USER, FORCE
)
async def _delete_user(iam: IAM, args: Args) -> Shape:
    await iam.delete_user(args.text("UserName"), force=bool(args.flag("Force")))
    return {}


@operation("TagUser", "add or overwrite tags on a user", USER, TAGS_REQUIRED)
async def _tag_user(iam: IAM, args: Args) -> Shape:
    await iam.tag_user(args.text("UserName"), args.raw("Tags"))
    return {}


@operation("UntagUser", "remove tags from a user", USER, TAG_KEYS)
async def _untag_user(iam: IAM, args: Args) -> Shape:
    await iam.untag_user(args.text("UserName"), args.strings("TagKeys"))
    return {}


@operation("ListUserTags", "list a user's tags", USER)
async def _list_user_tags(iam: IAM, args: Args) -> Shape:
    user = await iam.get_user(args.text("UserName"))
    return {"Tags": responses.tags(user.tags)}


@operation(
    "PutUserPermissionsBoundary",
    "set a user's permissions boundary",
    USER,
    Param("PermissionsBoundary", required=True, help="the ARN of the managed policy"),
)
async def _put_user_boundary(iam: IAM, args: Args) -> Shape:
    await iam.put_user_permissions_boundary(args.text("UserName"), args.text("PermissionsBoundary"))
    return {}


@operation("DeleteUserPermissionsBoundary", "remove a user's permissions boundary", USER)
async def _delete_user_boundary(iam: IAM, args: Args) -> Shape:
    await iam.delete_user_permissions_boundary(args.text("UserName"))
    return {}


# --- groups -----------------------------------------------------------------------------------


@operation("CreateGroup", "create a group", GROUP, PATH)
async def _create_group(iam: IAM, args: Args) -> Shape:
    group = await iam.create_group(args.text("GroupName"), path=args.maybe_text("Path"))
    return {"Group": responses.group(group)}


@operation("GetGroup", "show a group and its members", GROUP)
async def _get_group(iam: IAM, args: Args) -> Shape:
    group, users = await iam.get_group(args.text("GroupName"))
    return {
        "Users": [responses.user(user) for user in users],
        "Group": responses.group(group),
    }


@operation("ListGroups", "list the groups", PATH_PREFIX)
async def _list_groups(iam: IAM, args: Args) -> Shape:
    groups = await iam.list_groups(path_prefix=path_prefix(args))
    return {"Groups": [responses.group(group) for group in groups]}


@operation("ListGroupsForUser", "list the groups a user belongs to", USER)
async def _list_groups_for_user(iam: IAM, args: Args) -> Shape:
    groups = await iam.list_groups_for_user(args.text("UserName"))
    return {"Groups": [responses.group(group) for group in groups]}


@operation(
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


@operation("DeleteGroup", "delete a group (refused while it has members or policies)", GROUP, FORCE)
async def _delete_group(iam: IAM, args: Args) -> Shape:
    await iam.delete_group(args.text("GroupName"), force=bool(args.flag("Force")))
    return {}


@operation("AddUserToGroup", "add a user to a group", GROUP, USER)
async def _add_user_to_group(iam: IAM, args: Args) -> Shape:
    await iam.add_user_to_group(args.text("GroupName"), args.text("UserName"))
    return {}


@operation("RemoveUserFromGroup", "remove a user from a group", GROUP, USER)
async def _remove_user_from_group(iam: IAM, args: Args) -> Shape:
    await iam.remove_user_from_group(args.text("GroupName"), args.text("UserName"))
    return {}
