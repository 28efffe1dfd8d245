-- Second factors (DESIGN, Multi-factor authentication). The authenticator app's secret is
-- in totp_credential (migration 0001): sealed with the master key, pending until a first
-- code confirms it, and the last step used kept so a step is accepted once across every
-- instance (a conditional UPDATE). Email codes as a second factor are switched on per
-- account here; backup codes are keyed hashes, each used once.
CREATE TABLE mfa_email (
    account_id  TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    last_used_at BIGINT,
    CONSTRAINT mfa_email_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);

CREATE TABLE mfa_backup_code (
    account_id  TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (account_id, code_hash),
    CONSTRAINT mfa_backup_code_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);

-- Where accounts signed in from, for the pools that mail a notice of a sign-in from a new
-- network (a client address's /24 or /48) or a new browser (the long-lived device cookie of
-- the hosted pages): keyed hashes, never the address or cookie itself.
CREATE TABLE sign_in_origin (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    seen        BIGINT NOT NULL,
    PRIMARY KEY (account_id, kind, value_hash),
    CONSTRAINT sign_in_origin_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);

-- Passkeys (WebAuthn): a first factor on their own (user verification required) and a
-- second factor. `credential` is the verifier's stored form of the credential (its public
-- key, signature counter and flags, as JSON); a credential belongs to one account of a pool.
CREATE TABLE passkey (
    id             TEXT PRIMARY KEY,
    pool_id        TEXT NOT NULL,
    account_id     TEXT NOT NULL,
    credential_id  TEXT NOT NULL,
    credential     TEXT NOT NULL,
    name           TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT,
    CONSTRAINT passkey_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE,
    CONSTRAINT passkey_pool_credential_key UNIQUE (pool_id, credential_id)
);
CREATE INDEX passkey_account_idx ON passkey (account_id);
