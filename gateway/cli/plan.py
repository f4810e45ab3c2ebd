"""
The plan of ``gateway apply``: the changes that make the account match an IAM file.

``Planner`` compares the file with the current state (``gateway.cli.state``) and
lists the changes in an order that creates what is referred to before what refers
to it: the account, managed policies, groups, users, roles, then what ``prune``
deletes. The per-principal part lives in ``gateway.cli.principals``.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

import difflib

from gateway.cli import principals
from gateway.cli.changes import Change, Step, call, delete_policy
from gateway.cli.iamfile import PASSWORD_POLICY_FIELDS, Document, IAMFile, Ref
from gateway.cli.state import State, read_state
from gateway.iam import IAM, naming
from gateway.iam.passwords import PasswordPolicy


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
        return self._find(ref, "policy", self.arn_of, self.policy_names)

    def resolve_group(self, ref: Ref) -> str:
        return self._find(ref, "group", self.group_names, self.group_names)

    def _find(self, ref: Ref, kind: str, found: dict[str, str], names: dict[str, str]) -> str:
        value = found.get(ref.value.lower())
        if value is None:
            raise self.spec.error(
                ref.where, f"unknown {kind} `{ref.value}`" + _hint(ref.value, names)
            )
        return value

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
                    call("create_group", group.name, path=group.path),
                )
            elif current.path != group.path:
                self.add(
                    "~",
                    f"update group {group.name} (path {current.path} -> {group.path})",
                    call("update_group", group.name, new_path=group.path),
                )
            principals.attachments(
                self, "group", group.name, current, group.policies, group.inline_policies
            )
        for user in self.spec.users:
            principals.plan_user(self, user)
        for role in self.spec.roles:
            principals.plan_role(self, role)
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
                    call("update_account_password_policy", **fields),
                )

    def _policy(
        self, name: str, path: str, description: str, document: Document, where: str
    ) -> None:
        current = self.state.local.get(name.lower())
        if current is None:
            self.add(
                "+",
                f"create policy {name}",
                call("create_policy", name, document, path=path, description=description or None),
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
                        call(f"delete_{kind}", found.name, force=True),
                    )
        wanted = {p.name.lower() for p in self.spec.policies}
        for key, policy in sorted(self.state.local.items()):
            if key not in wanted:
                self.add("-", f"delete policy {policy.policy_name} (prune)", delete_policy(policy))


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
