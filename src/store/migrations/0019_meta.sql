-- Facts about the database as a whole, by name: `outbox_sealed_through` is the last outbox
-- row a start with WEBHOOK_MCP_SECRET_KEY has sealed plain values in (see seal_plain.rs).
CREATE TABLE meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
