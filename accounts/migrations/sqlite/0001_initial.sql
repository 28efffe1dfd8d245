-- Gatehouse schema, SQLite. Kept in step with ../postgres/0001_initial.sql.
-- Times are Unix seconds (BIGINT) in both backends so the same queries run on both.

CREATE TABLE pool (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    config      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    CONSTRAINT pool_name_key UNIQUE (name)
);

CREATE TABLE account (
    id          TEXT PRIMARY KEY,
    pool_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT account_pool_fk FOREIGN KEY (pool_id) REFERENCES pool (id),
    CONSTRAINT account_status_check CHECK (status IN ('pending', 'active', 'disabled'))
);
CREATE INDEX account_pool_idx ON account (pool_id);

CREATE TABLE email_credential (
    account_id        TEXT PRIMARY KEY,
    pool_id           TEXT NOT NULL,
    email             TEXT NOT NULL,
    email_normalized  TEXT NOT NULL,
    verified_at       BIGINT,
    created_at        BIGINT NOT NULL,
    last_used_at      BIGINT,
    CONSTRAINT email_credential_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE,
    CONSTRAINT email_credential_pool_email_key UNIQUE (pool_id, email_normalized)
);

CREATE TABLE password_credential (
    account_id    TEXT PRIMARY KEY,
    hash          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    CONSTRAINT password_credential_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);

-- An EOA is keyed by its address on every chain (chain_id 0); a contract wallet by
-- (chain id, address). address_key is the lowercase hex address used for uniqueness;
-- caip10 is how it is shown (the chain of the message that linked it, EIP-55 address).
CREATE TABLE wallet_credential (
    id            TEXT PRIMARY KEY,
    pool_id       TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    chain_id      BIGINT NOT NULL,
    address       TEXT NOT NULL,
    address_key   TEXT NOT NULL,
    caip10        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    verified_at   BIGINT NOT NULL,
    last_used_at  BIGINT,
    CONSTRAINT wallet_credential_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE,
    CONSTRAINT wallet_credential_pool_wallet_key UNIQUE (pool_id, chain_id, address_key),
    CONSTRAINT wallet_credential_kind_check CHECK (kind IN ('eoa', 'contract'))
);
CREATE INDEX wallet_credential_account_idx ON wallet_credential (account_id);

CREATE TABLE federated_identity (
    id            TEXT PRIMARY KEY,
    pool_id       TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    email         TEXT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    CONSTRAINT federated_identity_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE,
    CONSTRAINT federated_identity_pool_subject_key UNIQUE (pool_id, provider, subject)
);
CREATE INDEX federated_identity_account_idx ON federated_identity (account_id);

CREATE TABLE totp_credential (
    account_id       TEXT PRIMARY KEY,
    secret_sealed    BLOB NOT NULL,
    confirmed_at     BIGINT,
    last_used_step   BIGINT,
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT,
    CONSTRAINT totp_credential_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);

-- Emailed codes, stored as keyed hashes. Recovery and email-change codes are one live code
-- per (account, purpose); sign-up codes accumulate, each bound (payload) to the password of
-- the sign-up that sent it, so a stranger's earlier sign-up never sets the owner's password.
-- The payload of an email-change code is the new address.
CREATE TABLE verification_code (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    payload      TEXT,
    attempts     INTEGER NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    CONSTRAINT verification_code_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE,
    CONSTRAINT verification_code_purpose_check CHECK (purpose IN ('signup', 'recovery', 'email_change'))
);
CREATE INDEX verification_code_account_idx ON verification_code (account_id, purpose);

-- A session is a refresh-token family.
CREATE TABLE session (
    id              TEXT PRIMARY KEY,
    pool_id         TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    client_id       TEXT,
    amr             TEXT NOT NULL,
    wallet          TEXT,
    auth_time       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    last_used_at    BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_reason  TEXT,
    CONSTRAINT session_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);
CREATE INDEX session_account_idx ON session (account_id);

-- Refresh tokens are stored as SHA-256 hashes. used_at marks a rotated token.
CREATE TABLE refresh_token (
    token_hash   TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    used_at      BIGINT,
    CONSTRAINT refresh_token_session_fk FOREIGN KEY (session_id) REFERENCES session (id) ON DELETE CASCADE
);
CREATE INDEX refresh_token_session_idx ON refresh_token (session_id);

CREATE TABLE signing_key (
    kid            TEXT PRIMARY KEY,
    pool_id        TEXT NOT NULL,
    alg            TEXT NOT NULL,
    private_sealed BLOB NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    activates_at   BIGINT NOT NULL,
    retires_at     BIGINT,
    CONSTRAINT signing_key_pool_fk FOREIGN KEY (pool_id) REFERENCES pool (id),
    CONSTRAINT signing_key_alg_check CHECK (alg IN ('ES256', 'RS256', 'EdDSA'))
);
CREATE INDEX signing_key_pool_idx ON signing_key (pool_id);

CREATE TABLE app_client (
    id             TEXT PRIMARY KEY,
    pool_id        TEXT NOT NULL,
    name           TEXT NOT NULL,
    public         INTEGER NOT NULL,
    secret_hash    TEXT,
    redirect_uris  TEXT NOT NULL,
    config         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    CONSTRAINT app_client_pool_fk FOREIGN KEY (pool_id) REFERENCES pool (id)
);

CREATE TABLE audit_event (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pool_id     TEXT NOT NULL,
    account_id  TEXT,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_event_account_idx ON audit_event (account_id, id);

-- Mail bodies are sealed with the master key: they carry codes.
CREATE TABLE mail_outbox (
    id               TEXT PRIMARY KEY,
    pool_id          TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    body_sealed      BLOB,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    locked_until     BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT,
    CONSTRAINT mail_outbox_status_check CHECK (status IN ('pending', 'sent', 'failed'))
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
