"""
The account's IAM state as ``gateway apply`` compares it and ``gateway export`` prints it.

``read_state()`` reads, through the service layer, everything the planner looks
at: managed policies and their documents, groups, users (memberships, console)
and roles, each with its attached and inline policies, tags and boundary.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.cli.iamfile import Document
from gateway.errors import NoSuchEntity
from gateway.iam import IAM, documents, models
from gateway.iam.passwords import PasswordPolicy
from gateway.iam.policies import PrincipalKind


@dataclass(slots=True)
class Principal:
    """
    What a user, group or role has: attached policy ARNs and inline documents.
    """

    name: str
    path: str
    policies: set[str] = field(default_factory=set)
    inline: dict[str, Document] = field(default_factory=dict)
    tags: tuple[tuple[str, str], ...] = ()
    boundary: str | None = None


@dataclass(slots=True)
class State:
    """
    The account's IAM state as ``apply`` compares it.
    """

    account_id: str
    alias: str | None
    password_policy: PasswordPolicy | None
    local: dict[str, models.ManagedPolicy]  # by lowercase name
    aws: dict[str, models.ManagedPolicy]
    documents: dict[str, Document]  # default version, by ARN
    versions: dict[str, list[str]]  # version ids, newest first, by ARN
    groups: dict[str, Principal]
    users: dict[str, Principal]
    roles: dict[str, Principal]
    members: dict[str, set[str]]  # user (lowercase) -> group names (lowercase)
    consoles: dict[str, bool]  # user (lowercase) -> password_reset_required
    role_models: dict[str, models.Role]


async def read_state(iam: IAM) -> State:
    """
    Read everything ``apply`` and ``export`` look at.
    """
    account = await iam.get_account()
    try:
        password_policy: PasswordPolicy | None = await iam.get_account_password_policy()
    except NoSuchEntity:
        password_policy = None
    state = State(
        account_id=iam.account_id,
        alias=account.alias,
        password_policy=password_policy,
        local={p.policy_name.lower(): p for p in await iam.list_policies(scope="Local")},
        aws={p.policy_name.lower(): p for p in await iam.list_policies(scope="AWS")},
        documents={},
        versions={},
        groups={},
        users={},
        roles={},
        members={},
        consoles={},
        role_models={},
    )
    for policy in state.local.values():
        state.documents[policy.arn] = documents.decode(await iam.policy_document(policy.arn))
        versions = await iam.list_policy_versions(policy.arn)
        state.versions[policy.arn] = [v.version_id for v in versions]
    for group in await iam.list_groups():
        state.groups[group.group_name.lower()] = await _principal(
            iam, "group", group.group_name, group.path
        )
    for user in await iam.list_users():
        key = user.user_name.lower()
        found = await _principal(iam, "user", user.user_name, user.path)
        found.tags, found.boundary = user.tags, user.permissions_boundary
        state.users[key] = found
        state.members[key] = {g.group_name.lower() for g in await iam.list_groups_for_user(key)}
        try:
            state.consoles[key] = (await iam.get_login_profile(key)).password_reset_required
        except NoSuchEntity:
            pass
    for role in await iam.list_roles():
        found = await _principal(iam, "role", role.role_name, role.path)
        found.tags, found.boundary = role.tags, role.permissions_boundary
        state.roles[role.role_name.lower()] = found
        state.role_models[role.role_name.lower()] = role
    return state


async def _principal(iam: IAM, kind: PrincipalKind, name: str, path: str) -> Principal:
    found = Principal(name, path)
    found.policies = {p.policy_arn for p in await iam.list_attached_policies(kind, name)}
    for policy_name in await iam.list_inline_policies(kind, name):
        inline = await iam.get_inline_policy(kind, name, policy_name)
        found.inline[policy_name] = documents.decode(inline.document)
    return found
