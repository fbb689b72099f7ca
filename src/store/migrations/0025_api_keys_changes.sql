-- API keys read by index, however many were ever revoked (one per CI job adds up).

-- How many times the keys have changed: every `serve` and `stdio` reads this one row once a
-- second to notice a key created or revoked by another process on the file (it counted the
-- whole table before). Kept by triggers, in the transaction of the change, whatever code
-- writes the key; a revoked key deleted later changes no key that works, and counts nothing.
CREATE TABLE api_keys_changes (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    changes  INTEGER NOT NULL
) STRICT;
INSERT INTO api_keys_changes (id, changes) VALUES (1, 0);

CREATE TRIGGER api_keys_created AFTER INSERT ON api_keys
BEGIN
    UPDATE api_keys_changes SET changes = changes + 1 WHERE id = 1;
END;

-- Not `last_used_at`, written as keys are used: that changes no key.
CREATE TRIGGER api_keys_changed AFTER UPDATE OF name, hash, scope, revoked_at ON api_keys
BEGIN
    UPDATE api_keys_changes SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys WHEN OLD.revoked_at IS NULL
BEGIN
    UPDATE api_keys_changes SET changes = changes + 1 WHERE id = 1;
END;

-- The active keys (read at every reload, create and revocation) and the revoked ones by when
-- (deleted a while after), each without reading the others.
CREATE INDEX api_keys_active ON api_keys(id) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_revoked ON api_keys(revoked_at) WHERE revoked_at IS NOT NULL;
