-- "This wasn't me": when an account's email changes, the old address gets a single-use link
-- (its token stored as a keyed hash) that for 72 hours gives the account the old address
-- back, ends every session and starts a recovery there.
CREATE TABLE email_change_undo (
    token_hash  TEXT PRIMARY KEY,
    pool_id     TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    old_email   TEXT NOT NULL,
    changed_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    CONSTRAINT email_change_undo_account_fk FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE
);
CREATE INDEX email_change_undo_account_idx ON email_change_undo (account_id);
