-- Hooks (DESIGN, Hooks): each pool's hooks by name, at most one per trigger point, their
-- configuration as JSON (what the admin API returns) and their Standard Webhooks signing
-- secrets sealed with the master key, never returned after they were created or rotated.
CREATE TABLE hook (
    pool_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    hook_trigger    TEXT NOT NULL,
    config          TEXT NOT NULL,
    secrets_sealed  BLOB NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name),
    CONSTRAINT hook_pool_trigger_key UNIQUE (pool_id, hook_trigger),
    CONSTRAINT hook_pool_fk FOREIGN KEY (pool_id) REFERENCES pool (id) ON DELETE CASCADE
);
