"""
The policies that apply to a principal, as authorization reads them.
"""

from __future__ import annotations

import json

import pytest

from gateway.iam import IAM

pytestmark = pytest.mark.anyio

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}
    ],
}


async def test_user_grants_include_groups_and_boundary(iam: IAM) -> None:
    """A user's grants gather its own, its groups' and the boundary's documents."""
    user = await iam.create_user(
        "steve", permissions_boundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    )
    await iam.create_group("admins")
    await iam.add_user_to_group("admins", "steve")
    await iam.attach_policy("group", "admins", "arn:aws:iam::aws:policy/AdministratorAccess")
    await iam.attach_policy("user", "steve", "arn:aws:iam::aws:policy/AdministratorAccess")
    await iam.put_inline_policy("user", "steve", "mine", ALLOW_ALL)
    await iam.put_inline_policy("group", "admins", "theirs", ALLOW_ALL)
    grants = await iam.user_grants(user)
    ids = [source.policy_id for source in grants.identity]
    assert ids == [
        "user/steve/mine",
        "group/admins/theirs",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ]
    assert grants.boundary is not None
    assert grants.boundary.policy_id == "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


async def test_grants_follow_the_default_version(iam: IAM) -> None:
    """Changing a managed policy's default version changes what applies."""
    policy = await iam.create_policy("p", ALLOW_ALL)
    user = await iam.create_user("steve")
    await iam.attach_policy("user", "steve", policy.arn)
    narrow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
    }
    await iam.create_policy_version(policy.arn, narrow, set_as_default=True)
    [source] = (await iam.user_grants(user)).identity
    assert json.loads(source.document)["Statement"][0]["Effect"] == "Deny"


async def test_user_without_policies_has_none(iam: IAM) -> None:
    """A fresh user has no identity policy and no boundary (default deny)."""
    grants = await iam.user_grants(await iam.create_user("steve"))
    assert grants.identity == () and grants.boundary is None


async def test_role_grants_carry_trust_policy(iam: IAM) -> None:
    """A role's grants include its trust policy for AssumeRole decisions."""
    role = await iam.create_role("r", TRUST)
    await iam.put_inline_policy("role", "r", "inline", ALLOW_ALL)
    grants = await iam.role_grants(role)
    assert [s.policy_id for s in grants.identity] == ["role/r/inline"]
    assert grants.trust is not None and json.loads(grants.trust.document) == TRUST
