"""
Console sessions: password checks at sign-in, server-side session records, revocation.

A session is a row in ``console_sessions`` keyed by the SHA-256 of a random token;
the token travels in a signed cookie (the edge's business) and is never stored.
The row holds who signed in (a user id, or ``root:<account>``), when, from where,
whether and when an MFA code was given, and the owner's password change time at
sign-in.

Speed and several replicas. The proxy must not hit the store on every request, so
``ConsoleSessions`` keeps validated records per process and forgets all of them
when the IAM generation marker moves (``observe``). Everything that ends a session
early is a write transaction that bumps the marker: sign-out and revocation delete
rows; a password change, a deleted user or a deleted login profile change rows
the validation reads (the password change time no longer matches the snapshot, the
user or profile is gone). So on the next request every replica re-validates and
refuses the session. Creating a session and recording activity do not bump it:
no cached decision depends on them.

Last-seen times are kept in memory and written in batches (``flush``, every
``FLUSH_SECONDS`` at most) without bumping the marker. The idle timeout then holds
across replicas within that bound: a replica whose cached record looks idle reads
the row again before ending the session, so activity seen by another replica and
flushed counts; activity not yet flushed can end a session at most
``FLUSH_SECONDS`` early, never late. Concurrent flushes from two replicas may
write an older time over a newer one; the same bound applies.

Part of the IAM service layer: no HTTP, no cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.iam import naming, passwords
from gateway.iam.base import Clock
from gateway.iam.passwords import PasswordPolicy
from gateway.store import Row, Store, Transaction

FLUSH_SECONDS = 15.0
# Between the password and the MFA code: a pending session lives this long at most.
MFA_STAGE_SECONDS = 300
STAGE_MFA = "mfa"
STAGE_ACTIVE = "active"
ROOT_PREFIX = "root:"

# SECURITY: unknown users are checked against this hash so that they cost the same
# argon2 time as known ones (no user enumeration by timing).
_DUMMY_HASH = passwords._HASHER.hash(secrets.token_urlsafe(24))


def token_id(token: str) -> str:
    """
    Return the stored id of a session token (its SHA-256, hex).
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def root_owner(account_id: str) -> str:
    """
    Return the owner string of an account's root user (as MFA devices use it).
    """
    return ROOT_PREFIX + account_id


@dataclass(frozen=True, slots=True)
class Identity:
    """
    Who a password check proved: a user or the root user, and their password state.
    """

    account_id: str
    owner: str
    user_name: str
    password_changed_at: str
    has_mfa: bool
    password_change_required: bool
    password_expired: bool
    hard_expiry: bool

    @property
    def is_root(self) -> bool:
        return self.owner.startswith(ROOT_PREFIX)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """
    A validated session record, with what the edge needs to build the principal.
    """

    id: str
    account_id: str
    owner: str
    stage: str
    created_at: datetime
    last_seen_at: datetime
    mfa_serial: str | None
    mfa_at: datetime | None
    source_ip: str
    user_agent: str
    password_changed_at: str = ""
    user_name: str = ""
    user_path: str = "/"
    tags: tuple[tuple[str, str], ...] = ()
    password_change_required: bool = False
    password_expires_at: datetime | None = None

    @property
    def is_root(self) -> bool:
        return self.owner.startswith(ROOT_PREFIX)

    @property
    def is_active(self) -> bool:
        return self.stage == STAGE_ACTIVE

    def identity(self) -> Identity:
        """
        Return the identity this session was signed in as (to re-issue it).
        """
        return Identity(
            account_id=self.account_id,
            owner=self.owner,
            user_name=self.user_name,
            password_changed_at=self.password_changed_at,
            has_mfa=self.mfa_serial is not None,
            password_change_required=self.password_change_required,
            password_expired=False,
            hard_expiry=False,
        )

    @property
    def arn(self) -> str:
        if self.is_root:
            return f"arn:aws:iam::{self.account_id}:root"
        return naming.arn(self.account_id, "user", self.user_path, self.user_name)

    def must_change_password(self, now: datetime) -> bool:
        """
        True when the owner must set a new password before anything else.
        """
        if self.password_change_required:
            return True
        return self.password_expires_at is not None and self.password_expires_at <= now


def _expiry(changed_at: str, policy: PasswordPolicy | None) -> datetime | None:
    if policy is None or policy.max_password_age is None:
        return None
    return naming.parse_timestamp(changed_at) + timedelta(days=policy.max_password_age)


async def _policy(tx: Transaction, account_id: str) -> PasswordPolicy | None:
    row = await tx.get("password_policies", {"account_id": account_id})
    return PasswordPolicy.from_dict(json.loads(str(row["document"]))) if row else None


class ConsoleSessions:
    """
    Sign-in checks and session records for one process, cached per IAM generation.
    """

    def __init__(
        self,
        store: Store,
        *,
        idle_timeout_seconds: int = 3600,
        absolute_timeout_seconds: int = 43200,
        clock: Clock = naming.now,
        max_entries: int = 10_000,
    ) -> None:
        self.store = store
        self.idle = timedelta(seconds=idle_timeout_seconds)
        self.absolute = timedelta(seconds=absolute_timeout_seconds)
        self.clock = clock
        self._cache: dict[str, ConsoleSession] = {}
        self._seen: dict[str, datetime] = {}
        self._pending: dict[str, datetime] = {}
        self._generation = -1
        self._max_entries = max_entries
        self._last_flush = clock()
        self.store_reads = 0

    # -- cache -------------------------------------------------------------------------

    def observe(self, generation: int) -> None:
        """
        Forget every cached record when IAM changed since the last request.
        """
        if generation != self._generation:
            self._cache.clear()
            self._generation = generation

    def flush_due(self) -> bool:
        """
        True when recorded activity should be written now.
        """
        due = self._last_flush + timedelta(seconds=FLUSH_SECONDS)
        return bool(self._pending) and self.clock() >= due

    async def flush(self) -> None:
        """
        Write recorded last-seen times in one bookkeeping transaction (no bump).
        """
        pending, self._pending = self._pending, {}
        self._last_flush = self.clock()
        if not pending:
            return
        async with self.store.transaction(write=True, bump=False) as tx:
            for session_id, moment in sorted(pending.items()):
                await tx.update(
                    "console_sessions",
                    {"id": session_id},
                    {"last_seen_at": naming.timestamp(moment)},
                )

    # -- sign-in -----------------------------------------------------------------------

    async def check_user_password(
        self, account_id: str, user_name: str, password: str
    ) -> Identity | None:
        """
        Return the user's identity when ``password`` is theirs, else None.

        SECURITY: an unknown user, a user without a console password and a wrong
        password all cost one argon2 verification and all return None.
        """
        name = user_name.strip()
        profile: Row | None = None
        user: Row | None = None
        policy: PasswordPolicy | None = None
        has_mfa = False
        if 0 < len(name) <= 64:
            async with self.store.transaction() as tx:
                user = await tx.get("users", {"account_id": account_id, "name_lower": name.lower()})
                if user is not None:
                    profile = await tx.get("login_profiles", {"user_id": user["id"]})
                    has_mfa = bool(await tx.count("mfa_devices", {"owner": str(user["id"])}))
                    policy = await _policy(tx, account_id)
        digest = str(profile["password_hash"]) if profile is not None else _DUMMY_HASH
        matched = await passwords.verify_password(digest, password)
        if not matched or user is None or profile is None:
            return None
        changed = str(profile["password_changed_at"])
        expires = _expiry(changed, policy)
        return Identity(
            account_id=account_id,
            owner=str(user["id"]),
            user_name=str(user["name"]),
            password_changed_at=changed,
            has_mfa=has_mfa,
            password_change_required=bool(profile["password_reset_required"]),
            password_expired=expires is not None and expires <= self.clock(),
            hard_expiry=bool(policy and policy.hard_expiry),
        )

    async def check_root_password(self, email: str, password: str) -> Identity | None:
        """
        Return the root identity of the account whose root email is ``email``, or None.
        """
        row: Row | None = None
        has_mfa = False
        if 0 < len(email) <= 254:
            async with self.store.transaction() as tx:
                row = await tx.get("accounts", {"root_email_lower": email.strip().lower()})
                if row is not None:
                    owner = root_owner(str(row["id"]))
                    has_mfa = bool(await tx.count("mfa_devices", {"owner": owner}))
        digest = str(row["root_password_hash"]) if row is not None else _DUMMY_HASH
        matched = await passwords.verify_password(digest, password)
        if not matched or row is None:
            return None
        return Identity(
            account_id=str(row["id"]),
            owner=root_owner(str(row["id"])),
            user_name="",
            password_changed_at=str(row["root_password_changed_at"]),
            has_mfa=has_mfa,
            password_change_required=False,
            password_expired=False,
            hard_expiry=False,
        )

    # -- records -----------------------------------------------------------------------

    async def start(
        self,
        identity: Identity,
        *,
        stage: str,
        source_ip: str,
        user_agent: str,
        mfa_serial: str | None = None,
        mfa_at: datetime | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """
        Create a session record and return its token (a fresh one every time).

        ``created_at`` carries the original sign-in time over a re-issue (after the
        MFA step or a password change), so the absolute timeout still counts from it.
        """
        token = secrets.token_urlsafe(32)
        now = self.clock()
        async with self.store.transaction(write=True, bump=False) as tx:
            await tx.insert(
                "console_sessions",
                {
                    "id": token_id(token),
                    "account_id": identity.account_id,
                    "owner": identity.owner,
                    "stage": stage,
                    "created_at": naming.timestamp(created_at or now),
                    "last_seen_at": naming.timestamp(now),
                    "mfa_serial": mfa_serial,
                    "mfa_at": naming.timestamp(mfa_at) if mfa_at else None,
                    "source_ip": source_ip[:64],
                    "user_agent": user_agent[:256],
                    "password_changed_at": identity.password_changed_at,
                },
            )
        return token

    async def resolve(self, token: str, *, touch: bool = True) -> ConsoleSession | None:
        """
        Return the live session of ``token``, or None (unknown, ended, expired, revoked).

        A live session's activity is recorded in memory when ``touch`` is true.
        """
        if not token or len(token) > 128:
            return None
        session_id = token_id(token)
        now = self.clock()
        record = self._cache.get(session_id)
        if record is None:
            generation = self._generation
            record = await self._load(session_id)
            if record is None:
                return None
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            # SECURITY: a record read while IAM changed (a sign-out, a revoke) may predate
            # the change: it answers this request only and is not cached.
            if generation == self._generation:
                self._cache[session_id] = record
        if not self._within_timeouts(record, now):
            generation = self._generation
            record = await self._load(session_id)  # another replica may have seen activity
            if record is None or not self._within_timeouts(record, now):
                self._cache.pop(session_id, None)
                await self._discard(session_id)
                return None
            if generation == self._generation:
                self._cache[session_id] = record
        if touch:
            if len(self._seen) >= self._max_entries:
                self._seen.clear()  # bounded memory; the store keeps the flushed times
            self._seen[session_id] = now
            self._pending[session_id] = now
        return record

    def _within_timeouts(self, record: ConsoleSession, now: datetime) -> bool:
        if record.stage == STAGE_MFA:
            return now < record.created_at + timedelta(seconds=MFA_STAGE_SECONDS)
        if now >= record.created_at + self.absolute:
            return False
        seen = max(record.last_seen_at, self._seen.get(record.id, record.last_seen_at))
        return now < seen + self.idle

    async def _load(self, session_id: str) -> ConsoleSession | None:
        self.store_reads += 1
        async with self.store.transaction() as tx:
            row = await tx.get("console_sessions", {"id": session_id})
            if row is None:
                return None
            record = _record(row)
            owner = record.owner
            if record.is_root:
                account = await tx.get("accounts", {"id": record.account_id})
                if account is None or account["root_password_changed_at"] != str(
                    row["password_changed_at"]
                ):
                    return None
                return record
            user = await tx.get("users", {"id": owner})
            profile = await tx.get("login_profiles", {"user_id": owner})
            if user is None or profile is None:
                return None
            # SECURITY: a password changed since sign-in (by anyone) ends the session.
            if not hmac.compare_digest(
                str(profile["password_changed_at"]), str(row["password_changed_at"])
            ):
                return None
            policy = await _policy(tx, record.account_id)
        return replace(
            record,
            user_name=str(user["name"]),
            user_path=str(user["path"]),
            tags=tuple((k, v) for k, v in json.loads(str(user["tags"] or "[]"))),
            password_change_required=bool(profile["password_reset_required"]),
            password_expires_at=_expiry(str(profile["password_changed_at"]), policy),
        )

    async def _discard(self, session_id: str) -> None:
        # An expired record: removing it changes no cached decision (it is already
        # refused everywhere by the same clock), so no bump.
        self._seen.pop(session_id, None)
        self._pending.pop(session_id, None)
        async with self.store.transaction(write=True, bump=False) as tx:
            await tx.delete("console_sessions", {"id": session_id})

    async def end(self, token: str) -> None:
        """
        Sign out: delete the record of ``token`` on every replica (bumps the marker).
        """
        await self.end_by_id(token_id(token))

    async def end_by_id(self, session_id: str, *, owner: str | None = None) -> bool:
        """
        Delete one session (only if it belongs to ``owner`` when given).
        """
        where: dict[str, str] = {"id": session_id}
        if owner is not None:
            where["owner"] = owner
        self._cache.pop(session_id, None)
        async with self.store.transaction(write=True) as tx:
            return bool(await tx.delete("console_sessions", where))

    async def end_all(self, owner: str, *, except_id: str | None = None) -> int:
        """
        Revoke every session of ``owner`` (a user id or ``root:<account>``).
        """
        async with self.store.transaction(write=True) as tx:
            rows = await tx.select("console_sessions", {"owner": owner})
            ids = [str(row["id"]) for row in rows if row["id"] != except_id]
            if ids:
                await tx.delete("console_sessions", {"id": ids})
        for session_id in ids:
            self._cache.pop(session_id, None)
        return len(ids)

    async def list_for(self, owner: str) -> list[ConsoleSession]:
        """
        Return the live sessions of ``owner``, newest first.
        """
        now = self.clock()
        async with self.store.transaction() as tx:
            rows = await tx.select("console_sessions", {"owner": owner}, order_by=["created_at"])
        found = [_record(row) for row in rows]
        live = [
            replace(record, last_seen_at=max(record.last_seen_at, self._seen.get(record.id, now)))
            if record.id in self._seen
            else record
            for record in found
            if record.is_active and self._within_timeouts(record, now)
        ]
        return sorted(live, key=lambda record: record.created_at, reverse=True)


def _record(row: Row) -> ConsoleSession:
    mfa_at = row.get("mfa_at")
    return ConsoleSession(
        id=str(row["id"]),
        account_id=str(row["account_id"]),
        owner=str(row["owner"]),
        stage=str(row["stage"]),
        created_at=naming.parse_timestamp(str(row["created_at"])),
        last_seen_at=naming.parse_timestamp(str(row["last_seen_at"])),
        mfa_serial=str(row["mfa_serial"]) if row.get("mfa_serial") else None,
        mfa_at=naming.parse_timestamp(str(mfa_at)) if mfa_at else None,
        source_ip=str(row["source_ip"]),
        user_agent=str(row["user_agent"]),
        password_changed_at=str(row["password_changed_at"]),
    )
