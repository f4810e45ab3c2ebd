"""
The part of ``gateway apply``'s plan for one user, group or role.

Each function compares what the file names for one principal with what it has
now, and adds the changes to the ``Planner``: attached and inline policies, tags
and permissions boundary, and for users their groups and console password.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.cli.changes import call, create_login_profile
from gateway.cli.iamfile import Document, Ref, RoleSpec, UserSpec
from gateway.cli.state import Principal
from gateway.iam import IAM, documents
from gateway.iam.policies import PrincipalKind

if TYPE_CHECKING:
    from gateway.cli.plan import Planner


def attachments(
    planner: Planner,
    kind: PrincipalKind,
    name: str,
    current: Principal | None,
    refs: tuple[Ref, ...],
    inline: tuple[tuple[str, Document], ...],
) -> None:
    """
    Attach, detach, put and delete policies so the principal has exactly ``refs`` and ``inline``.
    """
    have = current.policies if current else set()
    want = [planner.resolve(ref) for ref in refs]
    for arn in dict.fromkeys(want):
        if arn not in have:
            planner.add(
                "+",
                f"attach policy {planner.policy_label(arn)} to {kind} {name}",
                call("attach_policy", kind, name, arn),
            )
    for arn in sorted(have - set(want)):
        planner.add(
            "-",
            f"detach policy {planner.policy_label(arn)} from {kind} {name}",
            call("detach_policy", kind, name, arn),
        )
    have_inline = current.inline if current else {}
    for policy_name, document in inline:
        if policy_name not in have_inline:
            planner.add(
                "+",
                f"put inline policy {policy_name} on {kind} {name}",
                call("put_inline_policy", kind, name, policy_name, document),
            )
        elif have_inline[policy_name] != document:
            planner.add(
                "~",
                f"update inline policy {policy_name} of {kind} {name}",
                call("put_inline_policy", kind, name, policy_name, document),
            )
    wanted_inline = {policy_name for policy_name, _ in inline}
    for policy_name in sorted(set(have_inline) - wanted_inline):
        planner.add(
            "-",
            f"delete inline policy {policy_name} of {kind} {name}",
            call("delete_inline_policy", kind, name, policy_name),
        )


def tags_and_boundary(
    planner: Planner,
    kind: str,
    name: str,
    current: Principal,
    tags: tuple[tuple[str, str], ...],
    boundary: str | None,
) -> None:
    """
    Retag an existing principal and set or remove its permissions boundary.
    """
    have = {k.lower(): (k, v) for k, v in current.tags}
    want = {k.lower(): (k, v) for k, v in tags}
    changed = [{"Key": k, "Value": v} for key, (k, v) in want.items() if have.get(key) != (k, v)]
    gone = [have[key][0] for key in have if key not in want]
    if changed or gone:

        async def retag(iam: IAM) -> None:
            if gone:
                await getattr(iam, f"untag_{kind}")(name, gone)
            if changed:
                await getattr(iam, f"tag_{kind}")(name, changed)

        planner.add("~", f"update tags of {kind} {name}", retag)
    if boundary != current.boundary:
        if boundary is None:
            planner.add(
                "-",
                f"remove permissions boundary of {kind} {name}",
                call(f"delete_{kind}_permissions_boundary", name),
            )
        else:
            planner.add(
                "~",
                f"set permissions boundary of {kind} {name} to {planner.policy_label(boundary)}",
                call(f"put_{kind}_permissions_boundary", name, boundary),
            )


def plan_user(planner: Planner, user: UserSpec) -> None:
    """
    Create or update a user: tags, boundary, groups, policies and console password.
    """
    key = user.name.lower()
    current = planner.state.users.get(key)
    boundary = planner.resolve(user.permissions_boundary) if user.permissions_boundary else None
    groups = [planner.resolve_group(ref) for ref in user.groups]
    if current is None:
        tags = [{"Key": k, "Value": v} for k, v in user.tags]
        planner.add(
            "+",
            f"create user {user.name}",
            call(
                "create_user",
                user.name,
                path=user.path,
                permissions_boundary=boundary,
                tags=tags,
            ),
        )
    else:
        if current.path != user.path:
            planner.add(
                "~",
                f"update user {user.name} (path {current.path} -> {user.path})",
                call("update_user", user.name, new_path=user.path),
            )
        tags_and_boundary(planner, "user", user.name, current, user.tags, boundary)
    have = planner.state.members.get(key, set())
    for group in dict.fromkeys(groups):
        if group.lower() not in have:
            planner.add(
                "+",
                f"add user {user.name} to group {group}",
                call("add_user_to_group", group, user.name),
            )
    for group in sorted(have - {g.lower() for g in groups}):
        label = planner.state.groups[group].name if group in planner.state.groups else group
        planner.add(
            "-",
            f"remove user {user.name} from group {label}",
            call("remove_user_from_group", group, user.name),
        )
    attachments(planner, "user", user.name, current, user.policies, user.inline_policies)
    has_console = key in planner.state.consoles
    if user.console is not None and not has_console:
        reset = " (password reset required)" if user.console else ""
        planner.add(
            "+",
            f"create login profile for user {user.name}{reset}",
            create_login_profile(user.name, user.console),
        )
    elif user.console is None and has_console:
        planner.add(
            "-",
            f"delete login profile of user {user.name}",
            call("delete_login_profile", user.name),
        )


def plan_role(planner: Planner, role: RoleSpec) -> None:
    """
    Create or update a role: settings, trust policy, tags, boundary and policies.
    """
    key = role.name.lower()
    current = planner.state.roles.get(key)
    boundary = planner.resolve(role.permissions_boundary) if role.permissions_boundary else None
    if current is None:
        tags = [{"Key": k, "Value": v} for k, v in role.tags]
        planner.add(
            "+",
            f"create role {role.name}",
            call(
                "create_role",
                role.name,
                role.trust_policy,
                path=role.path,
                description=role.description or None,
                max_session_duration=role.max_session_duration,
                permissions_boundary=boundary,
                tags=tags,
            ),
        )
    else:
        model = planner.state.role_models[key]
        if current.path != role.path:
            raise planner.spec.error(
                f"{role.where}.path",
                f"role `{role.name}` exists with path `{current.path}`; a role's path "
                "cannot change (delete the role first)",
            )
        if (
            model.description != role.description
            or model.max_session_duration != role.max_session_duration
        ):
            planner.add(
                "~",
                f"update role {role.name} (description, max session duration)",
                call(
                    "update_role",
                    role.name,
                    description=role.description,
                    max_session_duration=role.max_session_duration,
                ),
            )
        if documents.decode(model.assume_role_policy_document) != role.trust_policy:
            planner.add(
                "~",
                f"update trust policy of role {role.name}",
                call("update_assume_role_policy", role.name, role.trust_policy),
            )
        tags_and_boundary(planner, "role", role.name, current, role.tags, boundary)
    attachments(planner, "role", role.name, current, role.policies, role.inline_policies)
