-- Outbox (actions to send, with every attempt) and agent tasks. Times are unix milliseconds.

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,        -- act_ + UUIDv7; also the forward message id
    event_id         TEXT,                    -- null for a post_message asked for by hand
    webhook_id       TEXT,
    command_id       TEXT,                    -- null for actions asked for by hand (MCP, REST)
    task_id          TEXT,
    action           TEXT NOT NULL,           -- comment | ask | respond | forward | post_message
    delivery         TEXT,                    -- JSON actions::Delivery; null when it could not be planned
    target           TEXT NOT NULL,           -- where it goes, for people (never a token)
    status           TEXT NOT NULL,           -- pending | sending | retrying | delivered | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_error       TEXT,
    last_status      INTEGER,
    remote_id        TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
-- A command acts once per event: a replay finds the row and does not send a delivered one again.
CREATE UNIQUE INDEX outbox_once ON outbox(event_id, command_id) WHERE command_id IS NOT NULL;
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_by_event ON outbox(event_id);

CREATE TABLE outbox_attempts (
    id           INTEGER PRIMARY KEY,
    outbox_id    TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    latency_ms   INTEGER NOT NULL,
    http_status  INTEGER,
    outcome      TEXT NOT NULL,               -- delivered | retry | dead
    error        TEXT
) STRICT;
CREATE INDEX outbox_attempts_by_row ON outbox_attempts(outbox_id, attempt);

CREATE TABLE tasks (
    id            TEXT PRIMARY KEY,           -- task_ + UUIDv7
    event_id      TEXT,
    webhook_id    TEXT,
    command_id    TEXT,
    agent         TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    status        TEXT NOT NULL,              -- queued | running | waiting_reply | done | failed | cancelled
    source_kind   TEXT,
    source_key    TEXT,
    source        TEXT,                       -- JSON SourceRef
    conversation  TEXT NOT NULL DEFAULT '[]', -- JSON [{role, content, event_id?, at}]
    result        TEXT,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,                       -- "runner" or the external agent that claimed it
    lease_until   INTEGER,
    next_run_at   INTEGER NOT NULL DEFAULT 0, -- a failed run waits until then
    waiting_since INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX tasks_once ON tasks(event_id, command_id) WHERE command_id IS NOT NULL;
CREATE INDEX tasks_waiting ON tasks(webhook_id, source_key) WHERE status = 'waiting_reply';
CREATE INDEX tasks_by_status ON tasks(status, id);
CREATE INDEX tasks_by_event ON tasks(event_id);
