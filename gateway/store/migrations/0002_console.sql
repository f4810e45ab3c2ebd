-- Console sign-in: server-side sessions and sign-in throttling.

-- One row per console session. id is the SHA-256 (hex) of the random session token
-- the signed cookie carries, so a copy of this table signs nobody in. owner is a user
-- id, or 'root:<account id>' for the root user. stage is 'mfa' between the password
-- and the code, then 'active'. password_changed_at is the owner's password change time
-- at sign-in: a later change ends the session.
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    stage TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    mfa_serial TEXT,
    mfa_at TEXT,
    source_ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);
CREATE INDEX console_sessions_owner ON console_sessions (owner);

-- One row per failed sign-in or MFA code, per throttling key ('user:...' or 'ip:...').
-- Failures are inserted, never read-modified-written, so concurrent failures on any
-- number of replicas are all counted.
CREATE TABLE signin_failures (
    throttle_key TEXT NOT NULL,
    id TEXT NOT NULL,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (throttle_key, id)
);
