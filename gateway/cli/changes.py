"""
The changes ``gateway apply`` plans: a printable line and the step that carries it out.

A ``Step`` is an async call on the ``IAM`` service (the batch ``apply`` runs in);
``call()`` makes one from a method name, and the two steps that need more than one
call (a generated console password, a pruned managed policy) are built here too.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.errors import NoSuchEntity
from gateway.iam import IAM, models
from gateway.iam.passwords import PasswordPolicy, generate_password
from gateway.iam.policies import PrincipalKind

Step = Callable[[IAM], Awaitable[object]]


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


def call(method: str, *args: object, **kwargs: object) -> Step:
    """
    A step that calls the ``IAM`` method ``method`` with these arguments.
    """

    async def step(iam: IAM) -> object:
        return await getattr(iam, method)(*args, **kwargs)

    return step


def create_login_profile(user_name: str, reset: bool) -> Step:
    """
    A step that gives the user a generated console password, returned as a ``Notice``.
    """

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


def delete_policy(policy: models.ManagedPolicy) -> Step:
    """
    A step that detaches a managed policy everywhere, drops its versions, then deletes it.
    """

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
