"""
Users and groups in the IAM service layer, on both backends.
"""

from __future__ import annotations

import pytest

from gateway.errors import DeleteConflict, EntityAlreadyExists, InvalidInput, NoSuchEntity
from gateway.iam import IAM

pytestmark = pytest.mark.anyio


async def test_create_user_has_aws_shape(iam: IAM) -> None:
    """A new user gets an AIDA id and an ARN with its path."""
    user = await iam.create_user("steve", path="/people/")
    assert user.user_id.startswith("AIDA") and len(user.user_id) == 21
    assert user.arn == f"arn:aws:iam::{iam.account_id}:user/people/steve"
    assert (await iam.get_user("steve")).user_id == user.user_id


async def test_user_names_are_unique_case_insensitively(iam: IAM) -> None:
    """`Steve` cannot be created beside `steve`, and lookups ignore case."""
    await iam.create_user("steve")
    with pytest.raises(EntityAlreadyExists, match="steve|Steve"):
        await iam.create_user("Steve")
    assert (await iam.get_user("STEVE")).user_name == "steve"


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("", None),
        ("a" * 65, None),
        ("bad name", None),
        ("steve", "no-slashes"),
        ("steve", "/has space/"),
    ],
)
async def test_bad_names_and_paths_are_refused(iam: IAM, name: str, path: str | None) -> None:
    """Names and paths outside AWS's rules get a ValidationError and create nothing."""
    with pytest.raises(InvalidInput):
        await iam.create_user(name, path=path)
    assert await iam.list_users() == []


async def test_list_users_filters_by_path_prefix(iam: IAM) -> None:
    """ListUsers returns names in order, narrowed by a path prefix."""
    await iam.create_user("zed", path="/ops/")
    await iam.create_user("amy")
    assert [u.user_name for u in await iam.list_users()] == ["amy", "zed"]
    assert [u.user_name for u in await iam.list_users(path_prefix="/ops/")] == ["zed"]


async def test_missing_user_is_no_such_entity(iam: IAM) -> None:
    """An unknown user gets AWS's NoSuchEntity message."""
    with pytest.raises(NoSuchEntity, match="The user with name ghost cannot be found."):
        await iam.get_user("ghost")


async def test_rename_user_keeps_id_and_refuses_taken_name(iam: IAM) -> None:
    """UpdateUser renames in place and refuses a name already in use."""
    steve = await iam.create_user("steve")
    await iam.create_user("backup")
    await iam.update_user("steve", new_user_name="stephen")
    assert (await iam.get_user("stephen")).user_id == steve.user_id
    with pytest.raises(EntityAlreadyExists):
        await iam.update_user("stephen", new_user_name="BACKUP")


async def test_delete_user_refuses_while_attached(iam: IAM) -> None:
    """DeleteUser lists what is still attached and deletes nothing."""
    await iam.create_user("backup")
    await iam.create_access_key("backup")
    await iam.create_group("ops")
    await iam.add_user_to_group("ops", "backup")
    with pytest.raises(DeleteConflict, match="access keys.*group memberships"):
        await iam.delete_user("backup")
    assert (await iam.get_user("backup")).user_name == "backup"


async def test_delete_user_force_removes_everything(iam: IAM) -> None:
    """With force, keys, memberships and attachments go with the user."""
    await iam.create_user("backup")
    await iam.create_access_key("backup")
    await iam.create_group("ops")
    await iam.add_user_to_group("ops", "backup")
    await iam.attach_policy("user", "backup", "arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    await iam.delete_user("backup", force=True)
    with pytest.raises(NoSuchEntity):
        await iam.get_user("backup")
    _, members = await iam.get_group("ops")
    assert members == []
    entities = await iam.list_entities_for_policy("arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert entities.users == ()


async def test_tags_merge_and_untag(iam: IAM) -> None:
    """Tag keys are case-insensitive: a re-tag replaces, untag removes."""
    await iam.create_user("steve", tags=[{"Key": "team", "Value": "ops"}])
    await iam.tag_user("steve", [{"Key": "TEAM", "Value": "sec"}, {"Key": "x", "Value": "1"}])
    assert (await iam.get_user("steve")).tags == (("TEAM", "sec"), ("x", "1"))
    await iam.untag_user("steve", ["team"])
    assert (await iam.get_user("steve")).tags == (("x", "1"),)
    with pytest.raises(InvalidInput, match="reserved"):
        await iam.tag_user("steve", [{"Key": "aws:x", "Value": "1"}])


async def test_group_membership(iam: IAM) -> None:
    """Adding twice is harmless; members and a user's groups read back."""
    await iam.create_user("steve")
    await iam.create_group("admins")
    await iam.add_user_to_group("admins", "steve")
    await iam.add_user_to_group("admins", "steve")
    group, members = await iam.get_group("admins")
    assert group.group_id.startswith("AGPA")
    assert [u.user_name for u in members] == ["steve"]
    assert [g.group_name for g in await iam.list_groups_for_user("steve")] == ["admins"]
    await iam.remove_user_from_group("admins", "steve")
    assert await iam.list_groups_for_user("steve") == []


async def test_delete_group_with_members_conflicts(iam: IAM) -> None:
    """A group with members is not deleted unless forced."""
    await iam.create_user("steve")
    await iam.create_group("admins")
    await iam.add_user_to_group("admins", "steve")
    with pytest.raises(DeleteConflict, match="members"):
        await iam.delete_group("admins")
    await iam.delete_group("admins", force=True)
    assert await iam.list_groups() == []


async def test_batch_is_all_or_nothing(iam: IAM) -> None:
    """A failure inside a batch rolls back every change made in it."""
    before = await iam.store.generation()
    with pytest.raises(EntityAlreadyExists):
        async with iam.batch() as batch:
            await batch.create_user("steve")
            await batch.create_group("admins")
            await batch.create_user("STEVE")
    assert await iam.list_users() == []
    assert await iam.list_groups() == []
    assert await iam.store.generation() == before


async def test_every_write_bumps_generation(iam: IAM) -> None:
    """IAM writes move the change marker that caches in other processes watch."""
    before = await iam.store.generation()
    await iam.create_user("steve")
    middle = await iam.store.generation()
    await iam.list_users()
    assert middle > before
    assert await iam.store.generation() == middle
