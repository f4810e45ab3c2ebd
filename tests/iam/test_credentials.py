"""
Access keys, login profiles, the password policy and virtual MFA devices.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from gateway.errors import (
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from gateway.iam import IAM, Cipher
from gateway.iam.passwords import verify_password
from gateway.store import Store
from tests.conftest import StoreFactory

pytestmark = pytest.mark.anyio


async def test_access_key_secret_is_returned_once_and_sealed(iam: IAM) -> None:
    """The create call returns the secret; the store only holds ciphertext."""
    await iam.create_user("backup")
    created = await iam.create_access_key("backup")
    assert created.key.access_key_id.startswith("AKIA") and len(created.key.access_key_id) == 20
    assert len(created.secret_access_key) == 40
    assert created.secret_access_key not in repr(created)
    async with iam.store.transaction() as tx:
        row = await tx.get("access_keys", {"id": created.key.access_key_id})
    assert row is not None and created.secret_access_key not in str(row)
    found = await iam.access_key_secret(created.key.access_key_id)
    assert found is not None
    user, secret, status = found
    assert (user.user_name, secret, status) == ("backup", created.secret_access_key, "Active")
    listed = await iam.list_access_keys("backup")
    assert [k.access_key_id for k in listed] == [created.key.access_key_id]


async def test_third_access_key_is_refused(iam: IAM) -> None:
    """A user holds at most two keys, as in AWS."""
    await iam.create_user("backup")
    await iam.create_access_key("backup")
    await iam.create_access_key("backup")
    with pytest.raises(LimitExceeded, match="AccessKeysPerUser: 2"):
        await iam.create_access_key("backup")


async def test_racing_key_creations_respect_the_limit(
    store_factory: StoreFactory, store: Store, iam: IAM, cipher: Cipher
) -> None:
    """Creations racing from separate connections never exceed two keys."""
    await iam.create_user("backup")
    others = [await store_factory() for _ in range(3)]
    services = [IAM(other, cipher, account_id=iam.account_id) for other in others]
    results = await asyncio.gather(
        *(service.create_access_key("backup") for service in services), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, LimitExceeded)) == 1
    assert len(await iam.list_access_keys("backup")) == 2


async def test_update_and_delete_access_key(iam: IAM) -> None:
    """A key can be deactivated, then deleted for good."""
    await iam.create_user("backup")
    key = (await iam.create_access_key("backup")).key.access_key_id
    await iam.update_access_key("backup", key, "Inactive")
    assert (await iam.list_access_keys("backup"))[0].status == "Inactive"
    with pytest.raises(InvalidInput):
        await iam.update_access_key("backup", key, "Disabled")
    await iam.delete_access_key("backup", key)
    assert await iam.access_key_secret(key) is None
    with pytest.raises(NoSuchEntity):
        await iam.delete_access_key("backup", key)


async def test_login_profile_hashes_with_argon2id(iam: IAM) -> None:
    """The password is stored as an argon2id hash that verifies."""
    await iam.create_user("steve")
    profile = await iam.create_login_profile(
        "steve", "Initial-Passw0rd", password_reset_required=True
    )
    assert profile.password_reset_required
    async with iam.store.transaction() as tx:
        row = await tx.get("login_profiles", {})
    assert row is not None and str(row["password_hash"]).startswith("$argon2id$")
    assert await verify_password(str(row["password_hash"]), "Initial-Passw0rd")
    assert not await verify_password(str(row["password_hash"]), "wrong")
    with pytest.raises(EntityAlreadyExists):
        await iam.create_login_profile("steve", "Another-Passw0rd")


async def test_default_password_rules_apply_without_a_policy(iam: IAM) -> None:
    """Without an account policy, AWS's default rules still refuse weak passwords."""
    await iam.create_user("steve")
    with pytest.raises(InvalidInput, match="at least 8 characters") as caught:
        await iam.create_login_profile("steve", "short")
    assert caught.value.code == "PasswordPolicyViolation"
    assert "short" not in caught.value.message
    with pytest.raises(NoSuchEntity):
        await iam.get_login_profile("steve")


async def test_password_policy_rules_are_named(iam: IAM) -> None:
    """Each broken rule of the account policy is named in the message."""
    await iam.update_account_password_policy(
        MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True
    )
    await iam.create_user("steve")
    with pytest.raises(InvalidInput) as caught:
        await iam.create_login_profile("steve", "abcdefgh")
    message = caught.value.message
    assert "14 characters" in message and "symbols" in message and "number" in message


async def test_password_policy_ranges_and_defaults(iam: IAM) -> None:
    """Out-of-range fields are refused; a fresh update resets omitted fields."""
    with pytest.raises(NoSuchEntity):
        await iam.get_account_password_policy()
    with pytest.raises(InvalidInput):
        await iam.update_account_password_policy(MinimumPasswordLength=200)
    with pytest.raises(InvalidInput):
        await iam.update_account_password_policy(RequireSymbols="yes")
    await iam.update_account_password_policy(MaxPasswordAge=90, RequireSymbols=True)
    await iam.update_account_password_policy(PasswordReusePrevention=3)
    policy = await iam.get_account_password_policy()
    assert policy.password_reuse_prevention == 3
    assert policy.max_password_age is None and not policy.require_symbols
    await iam.delete_account_password_policy()
    with pytest.raises(NoSuchEntity):
        await iam.delete_account_password_policy()


async def test_password_reuse_prevention(iam: IAM) -> None:
    """A password among the last N cannot be set again."""
    await iam.update_account_password_policy(PasswordReusePrevention=2)
    await iam.create_user("steve")
    await iam.create_login_profile("steve", "First-Passw0rd")
    await iam.update_login_profile("steve", password="Second-Passw0rd")
    with pytest.raises(InvalidInput, match="last 2 passwords"):
        await iam.update_login_profile("steve", password="First-Passw0rd")


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment


async def test_enable_mfa_with_two_consecutive_codes(
    store: Store, cipher: Cipher, iam: IAM
) -> None:
    """A device is enabled by two consecutive codes, and both steps are then spent."""
    clock = FixedClock()
    service = IAM(store, cipher, account_id=iam.account_id, clock=clock)
    await service.create_user("steve")
    device = await service.create_virtual_mfa_device("steve")
    assert device.serial_number == f"arn:aws:iam::{iam.account_id}:mfa/steve"
    assert device.otpauth_uri.startswith("otpauth://totp/")
    totp = pyotp.TOTP(device.base32_seed)
    earlier = clock.moment - timedelta(seconds=30)
    with pytest.raises(InvalidInput) as caught:
        await service.enable_mfa_device(
            "steve", device.serial_number, totp.at(clock.moment), totp.at(earlier)
        )
    assert caught.value.code == "InvalidAuthenticationCode"
    await service.enable_mfa_device(
        "steve", device.serial_number, totp.at(earlier), totp.at(clock.moment)
    )
    [listed] = await service.list_mfa_devices("steve")
    assert listed.serial_number == device.serial_number and listed.enabled is not None
    async with store.transaction() as tx:
        steps = await tx.select("mfa_used_steps", {"serial_number": device.serial_number})
    assert len(steps) == 2
    with pytest.raises(EntityAlreadyExists):
        await service.enable_mfa_device("steve", device.serial_number, "000000", "000000")
    # Unassigned and assigned again: the codes already spent are refused like wrong ones.
    await service.deactivate_mfa_device("steve", device.serial_number)
    with pytest.raises(InvalidInput) as replayed:
        await service.enable_mfa_device(
            "steve", device.serial_number, totp.at(earlier), totp.at(clock.moment)
        )
    assert replayed.value.code == "InvalidAuthenticationCode"


async def test_mfa_seed_is_sealed_at_rest(iam: IAM) -> None:
    """The TOTP seed never reaches the store in clear."""
    device = await iam.create_virtual_mfa_device("steve")
    async with iam.store.transaction() as tx:
        row = await tx.get("mfa_devices", {"serial_number": device.serial_number})
    assert row is not None and device.base32_seed not in str(row)
    assert device.base32_seed not in repr(device)


async def test_key_last_used_never_goes_back_in_time(iam: IAM) -> None:
    """Replicas flush their batches in any order; the latest use is the one kept."""
    await iam.create_user("u")
    key = (await iam.create_access_key("u")).key.access_key_id
    later = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    await iam.record_access_key_use({key: (later, "backup", "us-east-1")})
    await iam.record_access_key_use({key: (later - timedelta(minutes=5), "old", "eu-west-1")})
    await iam.record_access_key_use({"AKIAGONE000000000000": (later, "backup", "us-east-1")})
    used = await iam.get_access_key_last_used(key)
    assert (used.last_used, used.last_used_service, used.last_used_region) == (
        later,
        "backup",
        "us-east-1",
    )
    await iam.record_access_key_use({key: (later + timedelta(seconds=1), "new", "us-east-1")})
    assert (await iam.get_access_key_last_used(key)).last_used_service == "new"
