-- Registry, commands, the event log and API keys. Times are unix milliseconds.

CREATE TABLE webhooks (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    provider             TEXT NOT NULL,
    secret               TEXT NOT NULL,
    -- The secret before the last rotation, accepted until previous_expires_at.
    previous_secret      TEXT,
    previous_expires_at  INTEGER,
    enabled              INTEGER NOT NULL DEFAULT 1,
    options              TEXT NOT NULL DEFAULT '{}',
    created_by           TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

CREATE TABLE commands (
    id           TEXT PRIMARY KEY,
    webhook_id   TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    trigger      TEXT NOT NULL,
    action       TEXT NOT NULL,
    agent        TEXT,
    template     TEXT,
    conditions   TEXT NOT NULL DEFAULT '{}',
    target       TEXT,
    priority     INTEGER NOT NULL DEFAULT 0,
    stop         INTEGER NOT NULL DEFAULT 0,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX commands_by_webhook ON commands(webhook_id, priority DESC, id);

-- Every request that reached a known webhook, accepted or rejected. Events outlive their
-- webhook: deleting a webhook keeps its history.
CREATE TABLE events (
    id               TEXT PRIMARY KEY,       -- evt_ + UUIDv7: sorts by arrival
    webhook_id       TEXT NOT NULL,
    provider         TEXT NOT NULL,
    event_type       TEXT,
    delivery_id      TEXT,
    verified         INTEGER NOT NULL,
    verification     TEXT NOT NULL,          -- current | previous | the reason it failed
    status           TEXT NOT NULL,          -- accepted | rejected | ...
    source_kind      TEXT,
    source_key       TEXT,
    source           TEXT,                   -- JSON SourceRef
    headers          TEXT NOT NULL,          -- JSON object, secrets removed
    content_type     TEXT,
    body             BLOB NOT NULL,          -- exactly as received
    matched_commands TEXT NOT NULL DEFAULT '[]',
    remote_addr      TEXT,
    received_at      INTEGER NOT NULL
) STRICT;
-- Dedup: one verified event per delivery id and webhook. Rejected attempts stay out of it,
-- so a forged request cannot claim a delivery id ahead of the real one.
CREATE UNIQUE INDEX events_delivery ON events(webhook_id, delivery_id)
    WHERE verified = 1 AND delivery_id IS NOT NULL;
CREATE INDEX events_by_webhook ON events(webhook_id, id);
CREATE INDEX events_by_source ON events(webhook_id, source_key) WHERE source_key IS NOT NULL;
CREATE INDEX events_by_status ON events(status, id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,            -- hex SHA-256 of the key
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
