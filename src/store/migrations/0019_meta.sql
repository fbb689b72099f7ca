-- Facts about the database as a whole, by name: `plain_values_sealed` says a start with
-- WEBHOOK_MCP_SECRET_KEY has sealed every value that was stored plain before it.
CREATE TABLE meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
