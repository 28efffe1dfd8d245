-- OAuth sessions: the scope a client was granted (refresh may only narrow it, RFC 6749
-- §6) and the browser session an authorization came from (logout ends both).
ALTER TABLE session ADD COLUMN scope TEXT;
ALTER TABLE session ADD COLUMN parent_id TEXT;
CREATE INDEX session_parent_idx ON session (parent_id);
