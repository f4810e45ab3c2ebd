-- Workloads: programs that receive rotating temporary credentials for a role from
-- /_gateway/credentials, with no stored access key.

-- One row per workload. token_hash is the SHA-256 (hex) of the secret half of the
-- bootstrap token (`<id>.<secret>`), so a copy of this table authenticates nobody.
-- Deleting the role deletes its workloads.
CREATE TABLE workloads (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    duration_seconds INTEGER NOT NULL,
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    rotated_at TEXT NOT NULL,
    UNIQUE (account_id, name_lower)
);
CREATE INDEX workloads_role ON workloads (role_id);
