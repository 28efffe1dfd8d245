-- Upstream identity providers (DESIGN, Concepts and Federation): each pool's IdPs by name,
-- their configuration as JSON (what the admin API returns) and their secrets (a client
-- secret, a signing key for private_key_jwt or Apple's client secret) sealed with the master
-- key, never returned. A federated identity (migration 0001) names its IdP by this name.
CREATE TABLE identity_provider (
    pool_id        TEXT NOT NULL,
    name           TEXT NOT NULL,
    config         TEXT NOT NULL,
    secrets_sealed BYTEA,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name),
    CONSTRAINT identity_provider_pool_fk FOREIGN KEY (pool_id) REFERENCES pool (id) ON DELETE CASCADE
);

