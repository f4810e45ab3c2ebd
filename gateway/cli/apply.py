"""
``gateway apply FILE [--dry-run]`` and ``gateway export [--format toml|json]``.

``apply`` makes the account match an IAM file (see ``gateway.cli.iamfile``):
it reads the current state, prints a plan (``+ create user steve``, ``~ update
policy backup-write (new default version v2)``, ``- detach ...``) and carries
it out inside one write transaction (``IAM.batch()``), so either every change
lands or none does. What the file names is its desired state: for a named
user, group or role, the file's groups, policies, inline policies, tags,
boundary and console setting are the complete set (an omitted key means none).
Entities the file does not name are left alone, unless ``prune = true`` says
to delete them. ``account_alias`` and ``password_policy`` are left alone when
omitted. Policy documents are compared as parsed JSON, so a second run says
"no changes" and writes nothing.

``apply`` never handles access keys (``gateway iam create-access-key`` makes
them). ``console = {...}`` on a user creates a login profile with a generated
password when there is none; that password is printed once and stored nowhere.
An existing login profile is left as it is (its password and reset flag belong
to the user). ``export`` prints the same format back, without any secret.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.cli._common import add_account_argument, add_config_argument, open_iam
from gateway.cli.iamfile import (
    PASSWORD_POLICY_FIELDS,
    Document,
    IAMFile,
    Ref,
    RoleSpec,
    UserSpec,
    dump_toml,
    load_iam_file,
)
from gateway.errors import GatewayError, NoSuchEntity
from gateway.iam import IAM, documents, models, naming
from gateway.iam.passwords import PasswordPolicy, generate_password
from gateway.iam.policies import PrincipalKind

Step = Callable[[IAM], Awaitable[object]]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add the ``apply`` and ``export`` commands.
    """
    parser = subparsers.add_parser(
        "apply",
        help="make IAM match a declarative file (TOML or JSON)",
        description="Make the account's users, groups, roles and policies match FILE: print "
        "the plan, then apply it all-or-nothing. Idempotent.",
    )
    parser.add_argument("file", metavar="FILE", help="the IAM file (.toml or .json)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    add_config_argument(parser)
    add_account_argument(parser)
    parser.set_defaults(func=run_apply)

    export = subparsers.add_parser(
        "export",
        help="print the account's IAM state in the format `apply` reads",
        description="Print users, groups, roles and customer managed policies as an IAM "
        "file; secrets are never included.",
    )
    export.add_argument("--format", choices=("toml", "json"), default="toml", help="default: toml")
    add_config_argument(export)
    add_account_argument(export)
    export.set_defaults(func=run_export)


class ApplyFailed(GatewayError):
    """
    A change failed while applying; the transaction was rolled back.
    """

    code = "ApplyFailed"
    status = 400


# --- the current state ------------------------------------------------------------------------


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


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """
    One planned change: ``+``/``~``/``-``, what it does, and the step that does it.
    """

    symbol: str
    text: str
    step: Step

    def __str__(self) -> str:
        return f"{self.symbol} {self.text}"


@dataclass(frozen=True, slots=True)
class Notice:
    """
    A line to print once after applying (a generated console password).
    """

    text: str


def _call(method: str, *args: object, **kwargs: object) -> Step:
    async def step(iam: IAM) -> object:
        return await getattr(iam, method)(*args, **kwargs)

    return step


class Planner:
    """
    Compares an IAM file with the current state and lists the changes, in an order
    that creates what is referred to before what refers to it.
    """

    def __init__(self, spec: IAMFile, state: State) -> None:
        self.spec = spec
        self.state = state
        self.changes: list[Change] = []
        self.arn_of: dict[str, str] = {}  # lowercase policy name -> ARN, file first
        for policy in spec.policies:
            arn = naming.arn(state.account_id, "policy", policy.path, policy.name)
            self.arn_of.setdefault(policy.name.lower(), arn)
        if not spec.prune:  # pruned policies cannot be referred to
            for key, found in state.local.items():
                self.arn_of.setdefault(key, found.arn)
        for key, builtin in state.aws.items():
            self.arn_of.setdefault(key, builtin.arn)
        self.known_arns = set(self.arn_of.values())
        self.policy_names = {p.name.lower(): p.name for p in spec.policies}
        for found in (*state.local.values(), *state.aws.values()):
            self.policy_names.setdefault(found.policy_name.lower(), found.policy_name)
        self.group_names = {g.name.lower(): g.name for g in spec.groups}
        if not spec.prune:
            for key, group in state.groups.items():
                self.group_names.setdefault(key, group.name)

    def add(self, symbol: str, text: str, step: Step) -> None:
        self.changes.append(Change(symbol, text, step))

    def resolve(self, ref: Ref) -> str:
        if ref.value.startswith("arn:"):
            if ref.value in self.known_arns:
                return ref.value
            raise self.spec.error(ref.where, f"unknown policy `{ref.value}`")
        arn = self.arn_of.get(ref.value.lower())
        if arn is None:
            raise self.spec.error(
                ref.where, f"unknown policy `{ref.value}`" + _hint(ref.value, self.policy_names)
            )
        return arn

    def policy_label(self, arn: str) -> str:
        return arn.rsplit("/", 1)[-1]

    def plan(self) -> list[Change]:
        self._account()
        for policy in self.spec.policies:
            self._policy(
                policy.name, policy.path, policy.description, policy.document, policy.where
            )
        for group in self.spec.groups:
            current = self.state.groups.get(group.name.lower())
            if current is None:
                self.add(
                    "+",
                    f"create group {group.name}",
                    _call("create_group", group.name, path=group.path),
                )
            elif current.path != group.path:
                self.add(
                    "~",
                    f"update group {group.name} (path {current.path} -> {group.path})",
                    _call("update_group", group.name, new_path=group.path),
                )
            self._attachments("group", group.name, current, group.policies, group.inline_policies)
        for user in self.spec.users:
            self._user(user)
        for role in self.spec.roles:
            self._role(role)
        if self.spec.prune:
            self._prune()
        return self.changes

    def _account(self) -> None:
        alias = self.spec.account_alias
        if alias is not None and alias != self.state.alias:
            old, new = self.state.alias, alias

            async def set_alias(iam: IAM) -> None:
                if old is not None:
                    await iam.delete_account_alias(old)
                await iam.create_account_alias(new)

            text = f"update account alias ({old} -> {new})" if old else f"set account alias {new}"
            self.add("~" if old else "+", text, set_alias)
        fields = self.spec.password_policy
        if fields is not None:
            desired = PasswordPolicy.from_dict(
                {
                    attr: fields[aws]
                    for attr, (aws, _) in PASSWORD_POLICY_FIELDS.items()
                    if aws in fields
                }
            )
            if desired != self.state.password_policy:
                symbol = "~" if self.state.password_policy else "+"
                self.add(
                    symbol,
                    "set account password policy",
                    _call("update_account_password_policy", **fields),
                )

    def _policy(
        self, name: str, path: str, description: str, document: Document, where: str
    ) -> None:
        current = self.state.local.get(name.lower())
        if current is None:
            self.add(
                "+",
                f"create policy {name}",
                _call("create_policy", name, document, path=path, description=description or None),
            )
            return
        if current.path != path:
            raise self.spec.error(
                f"{where}.path",
                f"policy `{name}` exists with path `{current.path}`; a managed policy's path "
                "cannot change (delete the policy first)",
            )
        if self.state.documents.get(current.arn) == document:
            return
        versions = self.state.versions.get(current.arn, [])
        newest = max((int(v[1:]) for v in versions if v[1:].isdigit()), default=1)
        oldest = [v for v in versions if v != current.default_version_id][-1:]

        async def new_version(iam: IAM) -> None:
            # AWS keeps at most 5 versions: make room by dropping the oldest non-default one.
            if len(versions) >= 5 and oldest:
                await iam.delete_policy_version(current.arn, oldest[0])
            await iam.create_policy_version(current.arn, document, set_as_default=True)

        self.add("~", f"update policy {name} (new default version v{newest + 1})", new_version)

    def _attachments(
        self,
        kind: PrincipalKind,
        name: str,
        current: Principal | None,
        refs: tuple[Ref, ...],
        inline: tuple[tuple[str, Document], ...],
    ) -> None:
        have = current.policies if current else set()
        want = [self.resolve(ref) for ref in refs]
        for arn in dict.fromkeys(want):
            if arn not in have:
                self.add(
                    "+",
                    f"attach policy {self.policy_label(arn)} to {kind} {name}",
                    _call("attach_policy", kind, name, arn),
                )
        for arn in sorted(have - set(want)):
            self.add(
                "-",
                f"detach policy {self.policy_label(arn)} from {kind} {name}",
                _call("detach_policy", kind, name, arn),
            )
        have_inline = current.inline if current else {}
        for policy_name, document in inline:
            if policy_name not in have_inline:
                self.add(
                    "+",
                    f"put inline policy {policy_name} on {kind} {name}",
                    _call("put_inline_policy", kind, name, policy_name, document),
                )
            elif have_inline[policy_name] != document:
                self.add(
                    "~",
                    f"update inline policy {policy_name} of {kind} {name}",
                    _call("put_inline_policy", kind, name, policy_name, document),
                )
        wanted_inline = {policy_name for policy_name, _ in inline}
        for policy_name in sorted(set(have_inline) - wanted_inline):
            self.add(
                "-",
                f"delete inline policy {policy_name} of {kind} {name}",
                _call("delete_inline_policy", kind, name, policy_name),
            )

    def _tags_and_boundary(
        self,
        kind: str,
        name: str,
        current: Principal,
        tags: tuple[tuple[str, str], ...],
        boundary: str | None,
    ) -> None:
        have = {k.lower(): (k, v) for k, v in current.tags}
        want = {k.lower(): (k, v) for k, v in tags}
        changed = [
            {"Key": k, "Value": v} for key, (k, v) in want.items() if have.get(key) != (k, v)
        ]
        gone = [have[key][0] for key in have if key not in want]
        if changed or gone:

            async def retag(iam: IAM) -> None:
                if gone:
                    await getattr(iam, f"untag_{kind}")(name, gone)
                if changed:
                    await getattr(iam, f"tag_{kind}")(name, changed)

            self.add("~", f"update tags of {kind} {name}", retag)
        if boundary != current.boundary:
            if boundary is None:
                self.add(
                    "-",
                    f"remove permissions boundary of {kind} {name}",
                    _call(f"delete_{kind}_permissions_boundary", name),
                )
            else:
                self.add(
                    "~",
                    f"set permissions boundary of {kind} {name} to {self.policy_label(boundary)}",
                    _call(f"put_{kind}_permissions_boundary", name, boundary),
                )

    def _user(self, user: UserSpec) -> None:
        key = user.name.lower()
        current = self.state.users.get(key)
        boundary = self.resolve(user.permissions_boundary) if user.permissions_boundary else None
        groups: list[str] = []
        for ref in user.groups:
            found = self.group_names.get(ref.value.lower())
            if found is None:
                raise self.spec.error(
                    ref.where, f"unknown group `{ref.value}`" + _hint(ref.value, self.group_names)
                )
            groups.append(found)
        if current is None:
            tags = [{"Key": k, "Value": v} for k, v in user.tags]
            self.add(
                "+",
                f"create user {user.name}",
                _call(
                    "create_user",
                    user.name,
                    path=user.path,
                    permissions_boundary=boundary,
                    tags=tags,
                ),
            )
        else:
            if current.path != user.path:
                self.add(
                    "~",
                    f"update user {user.name} (path {current.path} -> {user.path})",
                    _call("update_user", user.name, new_path=user.path),
                )
            self._tags_and_boundary("user", user.name, current, user.tags, boundary)
        have = self.state.members.get(key, set())
        for group in dict.fromkeys(groups):
            if group.lower() not in have:
                self.add(
                    "+",
                    f"add user {user.name} to group {group}",
                    _call("add_user_to_group", group, user.name),
                )
        for group in sorted(have - {g.lower() for g in groups}):
            label = self.state.groups[group].name if group in self.state.groups else group
            self.add(
                "-",
                f"remove user {user.name} from group {label}",
                _call("remove_user_from_group", group, user.name),
            )
        self._attachments("user", user.name, current, user.policies, user.inline_policies)
        has_console = key in self.state.consoles
        if user.console is not None and not has_console:
            reset = " (password reset required)" if user.console else ""
            self.add(
                "+",
                f"create login profile for user {user.name}{reset}",
                _login_profile(user.name, user.console),
            )
        elif user.console is None and has_console:
            self.add(
                "-",
                f"delete login profile of user {user.name}",
                _call("delete_login_profile", user.name),
            )

    def _role(self, role: RoleSpec) -> None:
        key = role.name.lower()
        current = self.state.roles.get(key)
        boundary = self.resolve(role.permissions_boundary) if role.permissions_boundary else None
        if current is None:
            tags = [{"Key": k, "Value": v} for k, v in role.tags]
            self.add(
                "+",
                f"create role {role.name}",
                _call(
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
            model = self.state.role_models[key]
            if current.path != role.path:
                raise self.spec.error(
                    f"{role.where}.path",
                    f"role `{role.name}` exists with path `{current.path}`; a role's path "
                    "cannot change (delete the role first)",
                )
            if (
                model.description != role.description
                or model.max_session_duration != role.max_session_duration
            ):
                self.add(
                    "~",
                    f"update role {role.name} (description, max session duration)",
                    _call(
                        "update_role",
                        role.name,
                        description=role.description,
                        max_session_duration=role.max_session_duration,
                    ),
                )
            if documents.decode(model.assume_role_policy_document) != role.trust_policy:
                self.add(
                    "~",
                    f"update trust policy of role {role.name}",
                    _call("update_assume_role_policy", role.name, role.trust_policy),
                )
            self._tags_and_boundary("role", role.name, current, role.tags, boundary)
        self._attachments("role", role.name, current, role.policies, role.inline_policies)

    def _prune(self) -> None:
        named = {
            "user": {u.name.lower() for u in self.spec.users},
            "group": {g.name.lower() for g in self.spec.groups},
            "role": {r.name.lower() for r in self.spec.roles},
        }
        for kind, existing in (
            ("user", self.state.users),
            ("group", self.state.groups),
            ("role", self.state.roles),
        ):
            for key, found in sorted(existing.items()):
                if key not in named[kind]:
                    self.add(
                        "-",
                        f"delete {kind} {found.name} (prune)",
                        _call(f"delete_{kind}", found.name, force=True),
                    )
        wanted = {p.name.lower() for p in self.spec.policies}
        for key, policy in sorted(self.state.local.items()):
            if key not in wanted:
                self.add("-", f"delete policy {policy.policy_name} (prune)", _delete_policy(policy))


def _login_profile(user_name: str, reset: bool) -> Step:
    async def step(iam: IAM) -> Notice:
        try:
            policy: PasswordPolicy | None = await iam.get_account_password_policy()
        except NoSuchEntity:
            policy = None
        password = generate_password(policy)
        await iam.create_login_profile(user_name, password, password_reset_required=reset)
        when = "; it must be changed at first sign-in" if reset else ""
        return Notice(f"console password for user {user_name} (shown once{when}): {password}")

    return step


def _delete_policy(policy: models.ManagedPolicy) -> Step:
    async def step(iam: IAM) -> None:
        entities = await iam.list_entities_for_policy(policy.arn)
        kinds: tuple[tuple[PrincipalKind, tuple[tuple[str, str], ...]], ...] = (
            ("user", entities.users),
            ("group", entities.groups),
            ("role", entities.roles),
        )
        for kind, names in kinds:
            for name, _ in names:
                await iam.detach_policy(kind, name, policy.arn)
        for version in await iam.list_policy_versions(policy.arn):
            if not version.is_default:
                await iam.delete_policy_version(policy.arn, version.version_id)
        await iam.delete_policy(policy.arn)

    return step


def _hint(word: str, choices: dict[str, str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1)
    return f"; did you mean `{choices[close[0]]}`?" if close else ""


async def plan(iam: IAM, spec: IAMFile) -> list[Change]:
    """
    Return the changes that make the account match ``spec``.

    Raises:
        IAMFileError: the file refers to a policy or group that does not exist.
    """
    return Planner(spec, await read_state(iam)).plan()


async def apply(
    iam: IAM,
    spec: IAMFile,
    *,
    dry_run: bool = False,
    report: Callable[[list[Change]], None] = lambda changes: None,
) -> tuple[list[Change], list[Notice]]:
    """
    Plan, then (unless ``dry_run``) apply every change in one transaction.

    ``report`` receives the plan before anything is applied (to print it).

    Returns:
        The changes and the notices to print once (generated console passwords).

    Raises:
        IAMFileError: the file refers to something unknown (nothing changed).
        ApplyFailed: a change failed; the transaction was rolled back.
    """
    changes = await plan(iam, spec)
    if dry_run or not changes:
        report(changes)
        return changes, []
    notices: list[Notice] = []
    async with iam.batch() as batch:
        # INVARIANT: re-planned under the writer lock, so the plan applied is exact.
        changes = await plan(batch, spec)
        report(changes)
        for change in changes:
            try:
                result = await change.step(batch)
            except GatewayError as exc:
                raise ApplyFailed(
                    f"{spec.file}: `{change}` failed: ({exc.code}) {exc.message.rstrip('.')}; "
                    "nothing was changed"
                ) from exc
            if isinstance(result, Notice):
                notices.append(result)
    return changes, notices


def run_apply(args: argparse.Namespace) -> int:
    """
    Print the plan and apply it (or not, with ``--dry-run``).
    """
    spec = load_iam_file(args.file)
    changes, notices = asyncio.run(_apply(args, spec))
    if not changes:
        print("no changes")
        return 0
    count = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    if args.dry_run:
        print(f"dry run: {count} planned, nothing changed")
        return 0
    print(f"applied {count}")
    for notice in notices:
        print(notice.text)
    return 0


def _print_plan(changes: list[Change]) -> None:
    for change in changes:
        print(change, flush=True)


async def _apply(args: argparse.Namespace, spec: IAMFile) -> tuple[list[Change], list[Notice]]:
    async with open_iam(args) as iam:
        return await apply(iam, spec, dry_run=args.dry_run, report=_print_plan)


# --- export -----------------------------------------------------------------------------------


async def export_data(iam: IAM) -> dict[str, Any]:
    """
    Return the account's IAM state in the structure of an IAM file (no secrets).
    """
    state = await read_state(iam)
    resolver = Planner(IAMFile("<export>", None, False, None, (), (), (), ()), state)

    def ref(arn: str) -> str:
        name = arn.rsplit("/", 1)[-1]
        return name if resolver.arn_of.get(name.lower()) == arn else arn

    data: dict[str, Any] = {}
    if state.alias:
        data["account_alias"] = state.alias
    if state.password_policy is not None:
        policy = state.password_policy.to_dict()
        data["password_policy"] = {k: v for k, v in policy.items() if v is not None}
    data["policies"] = [
        _compact(
            name=p.policy_name,
            path=p.path,
            description=p.description,
            document=state.documents[p.arn],
        )
        for p in state.local.values()
    ]
    data["groups"] = [
        _compact(
            name=g.name,
            path=g.path,
            policies=sorted(ref(arn) for arn in g.policies),
            inline_policies=g.inline,
        )
        for g in state.groups.values()
    ]
    data["users"] = []
    for key, u in state.users.items():
        console = state.consoles.get(key)
        data["users"].append(
            _compact(
                name=u.name,
                path=u.path,
                tags=dict(u.tags),
                groups=sorted(state.groups[g].name for g in state.members.get(key, ())),
                policies=sorted(ref(arn) for arn in u.policies),
                inline_policies=u.inline,
                permissions_boundary=ref(u.boundary) if u.boundary else None,
                console=None if console is None else {"password_reset_required": console},
            )
        )
    data["roles"] = []
    for key, r in state.roles.items():
        model = state.role_models[key]
        data["roles"].append(
            _compact(
                name=r.name,
                path=r.path,
                description=model.description,
                max_session_duration=model.max_session_duration,
                trust_policy=documents.decode(model.assume_role_policy_document),
                tags=dict(r.tags),
                policies=sorted(ref(arn) for arn in r.policies),
                inline_policies=r.inline,
                permissions_boundary=ref(r.boundary) if r.boundary else None,
            )
        )
    return {key: value for key, value in data.items() if value != []}


def _compact(**values: object) -> dict[str, object]:
    """
    Leave out values that are the file's defaults, so exports stay short.
    """
    defaults: dict[str, object] = {"path": "/", "max_session_duration": 3600}
    return {
        key: value
        for key, value in values.items()
        if value not in (None, "", [], {}) and defaults.get(key) != value
    }


def run_export(args: argparse.Namespace) -> int:
    """
    Print the account's IAM state as TOML or JSON.
    """
    data = asyncio.run(_export(args))
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(dump_toml(data), end="")
    return 0


async def _export(args: argparse.Namespace) -> dict[str, Any]:
    async with open_iam(args) as iam:
        return await export_data(iam)
