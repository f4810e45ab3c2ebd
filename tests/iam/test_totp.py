"""
RFC 6238 codes for virtual MFA devices, and spending a code at most once.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from gateway.iam import IAM, Cipher, totp
from gateway.store import Store
from tests.conftest import StoreFactory

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "totp"
DERIVED = json.loads((VECTORS / "derived-6digit-and-negative.json").read_text())
RFC6238 = json.loads((VECTORS / "rfc6238-appendix-b.json").read_text())
RFC4226 = json.loads((VECTORS / "rfc4226-appendix-d.json").read_text())
SEED = RFC6238["seeds"]["SHA1"]["base32"]


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- the published vectors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector",
    [v for v in DERIVED["six_digit_codes"] if v["algorithm"] == "SHA1"],
    ids=lambda v: str(v["unix_time"]),
)
def test_rfc6238_six_digit_sha1_codes(vector: dict[str, object]) -> None:
    """Each RFC 6238 time gives the published SHA-1 code, truncated to 6 digits."""
    moment = _at(int(vector["unix_time"]))  # type: ignore[call-overload]
    device = totp.device(SEED)
    step = totp.matching_step(device, str(vector["totp"]), moment, drift=0)
    assert step == totp.step_at(moment)


@pytest.mark.parametrize(
    "vector",
    DERIVED["sha1_6digit_step_boundaries"]["vectors"],
    ids=lambda v: str(v["unix_time"]),
)
def test_step_boundaries(vector: dict[str, int | str]) -> None:
    """Times 0, 29, 30, 59, ... fall in the steps RFC 6238 says (X = 30, T0 = 0)."""
    moment = _at(int(vector["unix_time"]))
    assert totp.step_at(moment) == vector["time_step"]
    assert totp.device(SEED).generate_otp(int(vector["time_step"])) == vector["totp"]


@pytest.mark.parametrize("vector", RFC4226["vectors"], ids=lambda v: str(v["counter"]))
def test_rfc4226_hotp_values(vector: dict[str, object]) -> None:
    """The HOTP values of RFC 4226 Appendix D come out of the same generator."""
    assert (
        totp.device(RFC4226["secret"]["base32"]).generate_otp(int(vector["counter"]))
        == vector[  # type: ignore[call-overload]
            "hotp"
        ]
    )


# --- matching rules ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 12, 0, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-60, False), (-30, True), (0, True), (30, True), (60, False)]
)
def test_one_step_of_drift(offset: int, accepted: bool) -> None:
    """A code from one step either side is accepted; two steps away is not."""
    device = totp.device(SEED)
    code = device.at(NOW + timedelta(seconds=offset))
    assert (totp.matching_step(device, code, NOW) is not None) is accepted


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "１２３４５６", " 12345", None])
def test_malformed_codes_never_match(code: object) -> None:
    """Codes that are not six ASCII digits never match, whatever they are."""
    assert totp.matching_step(totp.device(SEED), code, NOW) is None  # type: ignore[arg-type]


def test_consecutive_codes() -> None:
    """Two consecutive codes ending now give the first one's step; reversed, nothing."""
    device = totp.device(SEED)
    first, second = device.at(NOW - timedelta(seconds=30)), device.at(NOW)
    assert totp.consecutive_steps(device, first, second, NOW) == totp.step_at(NOW) - 1
    assert totp.consecutive_steps(device, second, first, NOW) is None


# --- spending a code -----------------------------------------------------------------------------


class Clock:
    """A clock the test sets."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


async def _enrolled(
    store: Store, cipher: Cipher, iam: IAM, clock: Clock
) -> tuple[IAM, pyotp.TOTP, str]:
    service = IAM(store, cipher, account_id=iam.account_id, clock=clock)
    user = await service.create_user("steve")
    device = await service.create_virtual_mfa_device("steve")
    generator = pyotp.TOTP(device.base32_seed)
    earlier = clock.moment - timedelta(seconds=30)
    await service.enable_mfa_device(
        "steve", device.serial_number, generator.at(earlier), generator.at(clock.moment)
    )
    clock.moment += timedelta(seconds=60)
    return service, generator, user.user_id


@pytest.mark.anyio
async def test_code_is_accepted_once(store: Store, cipher: Cipher, iam: IAM) -> None:
    """A valid code is accepted, then refused when replayed."""
    clock = Clock(NOW)
    service, generator, user_id = await _enrolled(store, cipher, iam, clock)
    code = generator.at(clock.moment)
    serial = await service.verify_mfa_code(user_id, code)
    assert serial is not None and serial.endswith(":mfa/steve")
    assert await service.verify_mfa_code(user_id, code) is None
    assert await service.verify_mfa_code(user_id, "000000") is None


@pytest.mark.anyio
async def test_enrollment_codes_cannot_be_reused(store: Store, cipher: Cipher, iam: IAM) -> None:
    """The two codes that enabled the device are already spent."""
    clock = Clock(NOW)
    service = IAM(store, cipher, account_id=iam.account_id, clock=clock)
    user = await service.create_user("steve")
    device = await service.create_virtual_mfa_device("steve")
    generator = pyotp.TOTP(device.base32_seed)
    code = generator.at(NOW)
    await service.enable_mfa_device(
        "steve", device.serial_number, generator.at(NOW - timedelta(seconds=30)), code
    )
    assert await service.verify_mfa_code(user.user_id, code) is None


@pytest.mark.anyio
async def test_spending_does_not_signal_an_iam_change(
    store: Store, cipher: Cipher, iam: IAM
) -> None:
    """Accepting a code leaves the generation marker (and every cache) alone."""
    clock = Clock(NOW)
    service, generator, user_id = await _enrolled(store, cipher, iam, clock)
    before = await store.generation()
    assert await service.verify_mfa_code(user_id, generator.at(clock.moment)) is not None
    assert await store.generation() == before


@pytest.mark.anyio
async def test_racing_replicas_accept_a_code_once(
    store_factory: StoreFactory, store: Store, cipher: Cipher, iam: IAM
) -> None:
    """The same code sent to several replicas at once is accepted by exactly one."""
    clock = Clock(NOW)
    service, generator, user_id = await _enrolled(store, cipher, iam, clock)
    code = generator.at(clock.moment)
    replicas = [
        IAM(await store_factory(), cipher, account_id=iam.account_id, clock=clock) for _ in range(3)
    ]
    results = await asyncio.gather(
        *(replica.verify_mfa_code(user_id, code) for replica in replicas), return_exceptions=True
    )
    accepted = [r for r in results if isinstance(r, str)]
    assert len(accepted) == 1
    assert await service.verify_mfa_code(user_id, code) is None
