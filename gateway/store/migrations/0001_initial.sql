-- Initial IAM schema. Portable between SQLite and PostgreSQL: only TEXT,
-- INTEGER and BIGINT columns, timestamps as ISO 8601 UTC text, booleans as 0/1.

CREATE TABLE iam_generation (
    id INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO iam_generation (id, value) VALUES (1, 0);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    alias TEXT UNIQUE,
    root_email TEXT NOT NULL,
    root_email_lower TEXT NOT NULL UNIQUE,
    root_password_hash TEXT NOT NULL,
    root_password_changed_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path TEXT NOT NULL,
    permissions_boundary TEXT,
    tags TEXT NOT NULL,
    created_at TEXT NOT NULL,
    password_last_used TEXT,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path TEXT NOT NULL,
    description TEXT NOT NULL,
    trust_policy TEXT NOT NULL,
    max_session_duration INTEGER NOT NULL,
    permissions_boundary TEXT,
    tags TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sessions_revoked_before TEXT,
    UNIQUE (account_id, name_lower)
);

-- Managed policies; account_id 'aws' holds the built-ins shipped with the gateway.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    arn TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path TEXT NOT NULL,
    description TEXT NOT NULL,
    default_version TEXT NOT NULL,
    next_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE policy_versions (
    policy_id TEXT NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (policy_id, version_id)
);

-- principal_type is 'user', 'group' or 'role'.
CREATE TABLE policy_attachments (
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    policy_id TEXT NOT NULL REFERENCES policies (id),
    PRIMARY KEY (principal_type, principal_id, policy_id)
);
CREATE INDEX policy_attachments_policy ON policy_attachments (policy_id);

CREATE TABLE inline_policies (
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (principal_type, principal_id, name)
);

CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    secret_kid TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    last_used_service TEXT,
    last_used_region TEXT
);
CREATE INDEX access_keys_user ON access_keys (user_id);

CREATE TABLE login_profiles (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    password_reset_required INTEGER NOT NULL,
    password_changed_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Earlier password hashes, for the password policy's reuse prevention.
CREATE TABLE password_history (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id);

-- owner is a user id, or 'root:<account id>' for the root user, once enabled.
CREATE TABLE mfa_devices (
    serial_number TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    seed TEXT NOT NULL,
    seed_kid TEXT NOT NULL,
    owner TEXT,
    enabled_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX mfa_devices_owner ON mfa_devices (owner);

-- A TOTP time step accepted once is never accepted again (unique constraint).
CREATE TABLE mfa_used_steps (
    serial_number TEXT NOT NULL REFERENCES mfa_devices (serial_number) ON DELETE CASCADE,
    step BIGINT NOT NULL,
    PRIMARY KEY (serial_number, step)
);

CREATE TABLE password_policies (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    document TEXT NOT NULL
);
