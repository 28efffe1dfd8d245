-- The operators' directory: pool configs versioned (ETag / If-Match), groups and their
-- members, the device a session was opened from, and the indexes the admin searches and
-- the audit reader walk (every list is a keyset page over an index).
ALTER TABLE pool ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE pool ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;

-- The User-Agent a session was opened with (cut to 256 characters), shown to the account.
ALTER TABLE session ADD COLUMN user_agent TEXT;

-- Groups: a named set of accounts in a pool; a lower precedence comes first in `groups`.
CREATE TABLE account_group (
    id           TEXT PRIMARY KEY,
    pool_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    precedence   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT account_group_pool_fk FOREIGN KEY (pool_id) REFERENCES pool (id),
    CONSTRAINT account_group_pool_name_key UNIQUE (pool_id, name)
);

CREATE TABLE group_member (
    group_id    TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (group_id, account_id),
    CONSTRAINT group_member_group_fk FOREIGN KEY (group_id) REFERENCES account_group (id) ON DELETE CASCADE,
    CONSTRAINT group_member_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);
CREATE INDEX group_member_account_idx ON group_member (account_id);

-- Admin user search pages by (created_at, id) within a pool; a wallet is found by its
-- address on any chain.
CREATE INDEX account_pool_created_idx ON account (pool_id, created_at, id);
CREATE INDEX wallet_credential_pool_address_idx ON wallet_credential (pool_id, address_key);
-- The audit reader pages newest first within a pool, optionally by kind.
CREATE INDEX audit_event_pool_idx ON audit_event (pool_id, id);
CREATE INDEX audit_event_pool_kind_idx ON audit_event (pool_id, kind, id);
-- A pool's own audit retention is purged through this.
CREATE INDEX audit_event_pool_created_idx ON audit_event (pool_id, created_at);
