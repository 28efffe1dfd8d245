-- Every query on a request path or a periodic job is an index look-up, whatever the size of
-- the tables that grow with users: revoking a deleted client's sessions, claiming due mail in
-- order, and the purge of expired rows.
CREATE INDEX session_client_idx ON session (client_id);
CREATE INDEX session_expires_idx ON session (expires_at);
-- Due mail is claimed oldest first: walking (status, created_at) needs no sort, where the
-- old (status, next_attempt_at) index made every claim sort the whole backlog.
CREATE INDEX mail_outbox_claim_idx ON mail_outbox (status, created_at);
DROP INDEX mail_outbox_due_idx;
CREATE INDEX verification_code_expires_idx ON verification_code (expires_at);
CREATE INDEX email_change_undo_expires_idx ON email_change_undo (expires_at);
CREATE INDEX audit_event_created_idx ON audit_event (created_at);
CREATE INDEX account_status_created_idx ON account (status, created_at);

-- One-time data tasks done at start-up (e.g. re-normalising stored addresses), by name.
CREATE TABLE maintenance (
    name     TEXT PRIMARY KEY,
    done_at  BIGINT NOT NULL
);
