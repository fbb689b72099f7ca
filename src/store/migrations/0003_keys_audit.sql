-- Named, scoped API keys and the audit log of management changes. Times are unix milliseconds.

-- admin: everything; read: GET on /api and the read-only MCP methods and tools.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin'
    CHECK (scope IN ('admin', 'read'));
-- Updated at most once a minute per key.
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
-- The name of the key that created this one; NULL for keys made at first start.
ALTER TABLE api_keys ADD COLUMN created_by TEXT;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,              -- the name of the API key
    action  TEXT NOT NULL,              -- "POST /api/webhooks", "mcp create_webhook"
    target  TEXT,                       -- the path, or the id a tool call names
    status  INTEGER,                    -- the HTTP status of the answer
    detail  TEXT                        -- JSON, secrets masked
) STRICT;

CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
