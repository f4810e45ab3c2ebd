"""
Long-term credentials: access keys, console login profiles, virtual MFA devices.

Access-key secrets and TOTP seeds are sealed with the master key before they
reach the store and are returned in clear only by the call that creates them.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import datetime

import pyotp

from gateway.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from gateway.iam import models, naming, passwords, throttle, totp
from gateway.iam.base import MAX_ACCESS_KEYS_PER_USER, MAX_MFA_DEVICES_PER_USER, ServiceBase
from gateway.iam.crypto import Sealed
from gateway.store import Conflict, Row, Transaction

ACCESS_KEY_STATUSES = ("Active", "Inactive")
# Verified when a user has no console password, so that case costs one argon2 check too.
_unusable_hash: list[str] = []


async def _unusable() -> str:
    if not _unusable_hash:
        _unusable_hash.append(await passwords.hash_password(secrets.token_urlsafe(24)))
    return _unusable_hash[0]


def _key_context(access_key_id: str) -> str:
    return f"access-key:{access_key_id}"


def _seed_context(serial_number: str) -> str:
    return f"mfa-seed:{serial_number}"


class CredentialOperations(ServiceBase):
    """
    Access keys, login profiles, the password policy and MFA devices.
    """

    # -- access keys -------------------------------------------------------------------

    async def create_access_key(self, user_name: str) -> models.NewAccessKey:
        """
        Create an access key; the returned value is the only place the secret appears.

        Raises:
            LimitExceeded: the user already has two keys (checked under the writer lock,
                so two racing creations cannot both pass).
        """
        key_id = naming.access_key_id()
        secret = naming.secret_access_key()
        sealed = self.cipher.seal(secret, context=_key_context(key_id))
        now = self._now()
        async with self._write() as tx:
            user = await self._user_row(tx, user_name)
            if await tx.count("access_keys", {"user_id": user["id"]}) >= MAX_ACCESS_KEYS_PER_USER:
                raise LimitExceeded(
                    f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
                )
            await tx.insert(
                "access_keys",
                {
                    "id": key_id,
                    "user_id": user["id"],
                    "secret": sealed.ciphertext,
                    "secret_kid": sealed.kid,
                    "status": "Active",
                    "created_at": now,
                },
            )
        key = models.AccessKey(str(user["name"]), key_id, "Active", naming.parse_timestamp(now))
        return models.NewAccessKey(key, secret)

    async def list_access_keys(self, user_name: str) -> list[models.AccessKey]:
        async with self._read() as tx:
            user = await self._user_row(tx, user_name)
            rows = await tx.select("access_keys", {"user_id": user["id"]}, order_by=["created_at"])
        return [_access_key(str(user["name"]), row) for row in rows]

    async def _key_row(self, tx: Transaction, user_name: str, access_key_id: str) -> Row:
        user = await self._user_row(tx, user_name)
        row = await tx.get("access_keys", {"id": access_key_id, "user_id": user["id"]})
        if row is None:
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        return row

    async def update_access_key(self, user_name: str, access_key_id: str, status: str) -> None:
        if status not in ACCESS_KEY_STATUSES:
            raise InvalidInput(f"`Status` must be `Active` or `Inactive`, not `{status}`")
        async with self._write() as tx:
            row = await self._key_row(tx, user_name, access_key_id)
            await tx.update("access_keys", {"id": row["id"]}, {"status": status})

    async def delete_access_key(self, user_name: str, access_key_id: str) -> None:
        async with self._write() as tx:
            row = await self._key_row(tx, user_name, access_key_id)
            await tx.delete("access_keys", {"id": row["id"]})

    async def get_access_key_last_used(self, access_key_id: str) -> models.AccessKey:
        async with self._read() as tx:
            row = await tx.get("access_keys", {"id": access_key_id})
            user = await tx.get("users", {"id": row["user_id"]}) if row else None
        if row is None or user is None or user["account_id"] != self.account_id:
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        return _access_key(str(user["name"]), row)

    async def record_access_key_use(self, uses: Mapping[str, tuple[datetime, str, str]]) -> None:
        """
        Record when, for which service and in which region keys were last used.

        Called in batches (not once per request) and without bumping the generation
        marker: last-used times change no authorization decision.
        """
        if not uses:
            return
        async with self.store.transaction(write=True, bump=False) as tx:
            for key_id, (moment, service, region) in sorted(uses.items()):
                row = await tx.get("access_keys", {"id": key_id})
                if row is None:
                    continue  # deleted since
                known = row["last_used_at"]
                if known and naming.parse_timestamp(str(known)) >= moment:
                    continue  # another replica already recorded a later use
                await tx.update(
                    "access_keys",
                    {"id": key_id},
                    {
                        "last_used_at": naming.timestamp(moment),
                        "last_used_service": service,
                        "last_used_region": region,
                    },
                )

    async def access_key_secret(self, access_key_id: str) -> tuple[models.User, str, str] | None:
        """
        Return (user, secret, status) for a key of any account, or None when unknown.

        For request authentication only; the secret never leaves the gateway.
        """
        async with self._read() as tx:
            row = await tx.get("access_keys", {"id": access_key_id})
            user = await tx.get("users", {"id": row["user_id"]}) if row else None
        if row is None or user is None:
            return None
        secret = self.cipher.open(
            Sealed(str(row["secret"]), str(row["secret_kid"])), context=_key_context(access_key_id)
        )
        owner = type(self)(self.store, self.cipher, account_id=str(user["account_id"]))
        return owner._user(user), secret, str(row["status"])

    # -- login profiles ----------------------------------------------------------------

    async def create_login_profile(
        self, user_name: str, password: str, *, password_reset_required: bool = False
    ) -> models.LoginProfile:
        async with self._read() as tx:
            policy = await self._password_policy(tx)
        passwords.check_password(password, policy)
        digest = await passwords.hash_password(password)
        now = self._now()
        async with self._write() as tx:
            user = await self._user_row(tx, user_name)
            try:
                await tx.insert(
                    "login_profiles",
                    {
                        "user_id": user["id"],
                        "password_hash": digest,
                        "password_reset_required": int(password_reset_required),
                        "password_changed_at": now,
                        "created_at": now,
                    },
                )
            except Conflict:
                raise EntityAlreadyExists(
                    f"Login Profile for user {user['name']} already exists."
                ) from None
            await tx.insert(
                "password_history",
                {"user_id": user["id"], "password_hash": digest, "created_at": now},
            )
        created = naming.parse_timestamp(now)
        return models.LoginProfile(str(user["name"]), created, password_reset_required, created)

    async def get_login_profile(self, user_name: str) -> models.LoginProfile:
        async with self._read() as tx:
            user = await self._user_row(tx, user_name)
            row = await tx.get("login_profiles", {"user_id": user["id"]})
        if row is None:
            raise NoSuchEntity(f"Login Profile for User {user['name']} cannot be found.")
        return models.LoginProfile(
            str(user["name"]),
            naming.parse_timestamp(str(row["created_at"])),
            bool(row["password_reset_required"]),
            naming.parse_timestamp(str(row["password_changed_at"])),
        )

    async def update_login_profile(
        self,
        user_name: str,
        *,
        password: str | None = None,
        password_reset_required: bool | None = None,
    ) -> None:
        values: Row = {}
        if password_reset_required is not None:
            values["password_reset_required"] = int(password_reset_required)
        async with self._read() as tx:
            user = await self._user_row(tx, user_name)
            await self._profile_exists(tx, user)
            policy = await self._password_policy(tx)
            history = await tx.select(
                "password_history", {"user_id": user["id"]}, order_by=["created_at"]
            )
        if password is not None:
            # argon2 runs before the write transaction, whose generation-row lock
            # holds every other IAM writer back for as long as it is open.
            await _check_new_password(password, policy, history)
            values.update(
                password_hash=await passwords.hash_password(password),
                password_changed_at=self._now(),
            )
        if not values:
            return
        async with self._write() as tx:
            await self._profile_exists(tx, user)
            await tx.update("login_profiles", {"user_id": user["id"]}, values)
            if password is not None:
                await tx.insert(
                    "password_history",
                    {
                        "user_id": user["id"],
                        "password_hash": values["password_hash"],
                        "created_at": values["password_changed_at"],
                    },
                )

    async def _profile_exists(self, tx: Transaction, user: Row) -> None:
        if not await tx.count("login_profiles", {"user_id": user["id"]}):
            raise NoSuchEntity(f"Login Profile for User {user['name']} cannot be found.")

    async def delete_login_profile(self, user_name: str) -> None:
        async with self._write() as tx:
            user = await self._user_row(tx, user_name)
            if not await tx.delete("login_profiles", {"user_id": user["id"]}):
                raise NoSuchEntity(f"Login Profile for User {user['name']} cannot be found.")

    # -- MFA ---------------------------------------------------------------------------

    async def create_virtual_mfa_device(
        self, virtual_mfa_device_name: str, *, path: str | None = None
    ) -> models.NewVirtualMFADevice:
        name = naming.check_name(
            virtual_mfa_device_name, field="VirtualMFADeviceName", max_length=226
        )
        checked_path = naming.check_path(path)
        serial = naming.arn(self.account_id, "mfa", checked_path, name)
        # RFC 4226 §4: the shared secret is at least 128 bits; 160 bits as SHA-1's size.
        seed = base64.b32encode(secrets.token_bytes(20)).decode("ascii")
        sealed = self.cipher.seal(seed, context=_seed_context(serial))
        async with self._write() as tx:
            account = await tx.get("accounts", {"id": self.account_id})
            try:
                await tx.insert(
                    "mfa_devices",
                    {
                        "serial_number": serial,
                        "account_id": self.account_id,
                        "name": name,
                        "path": checked_path,
                        "seed": sealed.ciphertext,
                        "seed_kid": sealed.kid,
                        "created_at": self._now(),
                    },
                )
            except Conflict:
                raise EntityAlreadyExists(
                    "MFADevice entity at the same path and name already exists."
                ) from None
        issuer = (account or {}).get("alias") or self.account_id
        uri = pyotp.TOTP(seed).provisioning_uri(name=name, issuer_name=str(issuer))
        return models.NewVirtualMFADevice(serial, seed, uri)

    async def _device_row(self, tx: Transaction, serial_number: str) -> Row:
        row = await tx.get("mfa_devices", {"serial_number": serial_number})
        if row is None or row["account_id"] != self.account_id:
            raise NoSuchEntity(f"VirtualMFADevice with serial {serial_number} not found.")
        return row

    def _totp(self, row: Row) -> pyotp.TOTP:
        seed = self.cipher.open(
            Sealed(str(row["seed"]), str(row["seed_kid"])),
            context=_seed_context(str(row["serial_number"])),
        )
        return totp.device(seed)

    async def verify_mfa_code(
        self, owner: str, code: str, *, drift: int = totp.DEFAULT_DRIFT_STEPS
    ) -> str | None:
        """
        Check an MFA code against the devices enabled for ``owner`` (a user id, or
        ``root:<account id>``) and spend it: return the device's serial number, or
        None when no device accepts it or the code was already used.

        The accepted time step is inserted under a unique constraint, so a code is
        accepted at most once, even by two replicas at the same moment (the loser
        of that race is refused). Spending a code changes no authorization, so it
        does not bump the generation marker.
        """
        now = self.clock()
        async with self.store.transaction(write=True, bump=False) as tx:
            devices = await tx.select("mfa_devices", {"owner": owner}, order_by=["serial_number"])
            for row in devices:
                step = totp.matching_step(self._totp(row), code, now, drift=drift)
                if step is None:
                    continue
                serial = str(row["serial_number"])
                spent: Row = {"serial_number": serial, "step": step}
                try:
                    await tx.insert("mfa_used_steps", spent)
                except Conflict:
                    return None  # SECURITY: replayed code
                return serial
        return None

    async def enable_mfa_device(
        self, user_name: str, serial_number: str, code1: str, code2: str
    ) -> None:
        """
        Assign a virtual MFA device to a user, proven by two consecutive codes.

        Both accepted time steps are recorded so neither code can be used again.
        """
        async with self._write() as tx:
            user = await self._user_row(tx, user_name)
            row = await self._device_row(tx, serial_number)
            if row["owner"] is not None:
                raise EntityAlreadyExists("MFA Device is already in use.")
            if await tx.count("mfa_devices", {"owner": user["id"]}) >= MAX_MFA_DEVICES_PER_USER:
                raise LimitExceeded(
                    f"Cannot exceed quota for MFADevicesPerUser: {MAX_MFA_DEVICES_PER_USER}"
                )
            await self._spend_consecutive(tx, row, code1, code2)
            await tx.update(
                "mfa_devices",
                {"serial_number": serial_number},
                {"owner": user["id"], "enabled_at": self._now()},
            )

    async def _spend_consecutive(self, tx: Transaction, row: Row, code1: str, code2: str) -> None:
        # Two consecutive codes of the device in `row` (EnableMFADevice's rule); both
        # steps are recorded under the unique constraint, so neither works again.
        invalid = InvalidInput(
            "Authentication code for device is not valid.", code="InvalidAuthenticationCode"
        )
        step = totp.consecutive_steps(self._totp(row), code1, code2, self.clock())
        if step is None:
            raise invalid
        try:
            for used in (step, step + 1):
                await tx.insert(
                    "mfa_used_steps", {"serial_number": row["serial_number"], "step": used}
                )
        except Conflict:
            # SECURITY: a code already spent is refused like a wrong one.
            raise invalid from None

    async def deactivate_mfa_device(self, user_name: str, serial_number: str) -> None:
        async with self._write() as tx:
            user = await self._user_row(tx, user_name)
            row = await self._device_row(tx, serial_number)
            if row["owner"] != user["id"]:
                raise NoSuchEntity(
                    f"MFA Device with serial number {serial_number} does not exist "
                    f"for user {user['name']}."
                )
            await tx.update(
                "mfa_devices", {"serial_number": serial_number}, {"owner": None, "enabled_at": None}
            )

    async def delete_virtual_mfa_device(self, serial_number: str) -> None:
        async with self._write() as tx:
            row = await self._device_row(tx, serial_number)
            if row["owner"] is not None:
                raise DeleteConflict("MFA Device is enabled; deactivate it first.")
            await tx.delete("mfa_devices", {"serial_number": serial_number})

    async def list_mfa_devices(self, user_name: str) -> list[models.MFADevice]:
        async with self._read() as tx:
            user = await self._user_row(tx, user_name)
            rows = await tx.select("mfa_devices", {"owner": user["id"]}, order_by=["enabled_at"])
        return [_device(row, str(user["name"])) for row in rows]

    async def list_virtual_mfa_devices(self) -> list[models.MFADevice]:
        async with self._read() as tx:
            rows = await tx.select(
                "mfa_devices", {"account_id": self.account_id}, order_by=["serial_number"]
            )
            owners = await tx.select(
                "users", {"id": [str(row["owner"]) for row in rows if row["owner"]]}
            )
        names = {str(user["id"]): str(user["name"]) for user in owners}
        return [_device(row, names.get(str(row["owner"]))) for row in rows]

    async def enable_root_mfa_device(self, serial_number: str, code1: str, code2: str) -> None:
        """
        Assign a virtual MFA device to the account's root user (one device at most),
        proven by two consecutive codes as for a user; both steps are spent.
        """
        owner = f"root:{self.account_id}"
        async with self._write() as tx:
            row = await self._device_row(tx, serial_number)
            if row["owner"] is not None:
                raise EntityAlreadyExists("MFA Device is already in use.")
            if await tx.count("mfa_devices", {"owner": owner}):
                raise LimitExceeded("Cannot exceed quota for MFADevicesPerUser: 1")
            await self._spend_consecutive(tx, row, code1, code2)
            await tx.update(
                "mfa_devices",
                {"serial_number": serial_number},
                {"owner": owner, "enabled_at": self._now()},
            )

    async def root_mfa_devices(self) -> list[models.MFADevice]:
        """
        Return the MFA devices assigned to the account's root user.
        """
        async with self._read() as tx:
            rows = await tx.select("mfa_devices", {"owner": f"root:{self.account_id}"})
        return [_device(row, None) for row in rows]

    async def deactivate_root_mfa_device(self, serial_number: str) -> None:
        """
        Remove the root user's MFA device assignment.
        """
        async with self._write() as tx:
            row = await self._device_row(tx, serial_number)
            if row["owner"] != f"root:{self.account_id}":
                raise NoSuchEntity(f"MFA Device with serial number {serial_number} does not exist.")
            await tx.update(
                "mfa_devices", {"serial_number": serial_number}, {"owner": None, "enabled_at": None}
            )

    async def resync_mfa_device(
        self, user_name: str, serial_number: str, code1: str, code2: str
    ) -> None:
        """
        ResyncMFADevice: prove a user's enabled device still produces two
        consecutive codes; both steps are spent, as by EnableMFADevice.

        Raises:
            NoSuchEntity: the user, or the device assigned to them, does not exist.
            InvalidInput: ``InvalidAuthenticationCode`` when the codes do not match.
        """
        async with self.store.transaction(write=True, bump=False) as tx:
            user = await self._user_row(tx, user_name)
            row = await self._device_row(tx, serial_number)
            if row["owner"] != user["id"]:
                raise NoSuchEntity(
                    f"MFA Device with serial number {serial_number} does not exist "
                    f"for user {user['name']}."
                )
            await self._spend_consecutive(tx, row, code1, code2)

    async def change_password(self, user_name: str, old_password: str, new_password: str) -> None:
        """
        ChangePassword: a user replaces their own console password.

        The old password is always checked with one argon2 verification (a user
        without a console password costs the same), and failures count toward the
        user's sign-in throttle, so the call cannot be used to guess the password.
        The new password must satisfy the account's password policy and its reuse
        prevention; a pending reset requirement is cleared.

        Raises:
            LimitExceeded: too many recent failures for this user.
            InvalidInput: ``InvalidUserType`` when the old password is wrong or the
                user has no console password; ``PasswordPolicyViolation``.
        """
        key = throttle.user_key(self.account_id, user_name)
        guard = throttle.SigninThrottle(self.store, clock=self.clock)
        wait = await guard.check([key])
        if wait is not None:
            raise LimitExceeded(wait.message())
        async with self._read() as tx:
            user = await tx.get(
                "users", {"account_id": self.account_id, "name_lower": user_name.lower()}
            )
            profile = await tx.get("login_profiles", {"user_id": user["id"]}) if user else None
        digest = str(profile["password_hash"]) if profile is not None else await _unusable()
        matched = await passwords.verify_password(digest, old_password)
        if not matched or profile is None:
            await guard.fail([key])
            raise InvalidInput("The old password was incorrect.", code="InvalidUserType")
        await guard.clear(key)
        await self.update_login_profile(
            user_name, password=new_password, password_reset_required=False
        )


async def _check_new_password(
    password: str, policy: passwords.PasswordPolicy | None, history: list[Row]
) -> None:
    """
    Check a new password against the policy's rules and its reuse prevention.
    """
    passwords.check_password(password, policy)
    if policy is None or not policy.password_reuse_prevention:
        return
    for old in history[-policy.password_reuse_prevention :]:
        if await passwords.verify_password(str(old["password_hash"]), password):
            raise InvalidInput(
                "password does not conform to the account password policy: it was "
                f"used among the last {policy.password_reuse_prevention} passwords",
                code="PasswordPolicyViolation",
            )


def _access_key(user_name: str, row: Row) -> models.AccessKey:
    last = row.get("last_used_at")
    return models.AccessKey(
        user_name=user_name,
        access_key_id=str(row["id"]),
        status=str(row["status"]),
        created=naming.parse_timestamp(str(row["created_at"])),
        last_used=naming.parse_timestamp(str(last)) if last else None,
        last_used_service=str(row["last_used_service"]) if row.get("last_used_service") else None,
        last_used_region=str(row["last_used_region"]) if row.get("last_used_region") else None,
    )


def _device(row: Row, user_name: str | None) -> models.MFADevice:
    enabled = row.get("enabled_at")
    return models.MFADevice(
        serial_number=str(row["serial_number"]),
        user_name=user_name,
        enabled=naming.parse_timestamp(str(enabled)) if enabled else None,
        created=naming.parse_timestamp(str(row["created_at"])),
    )
