-- A request that failed verification keeps only the start of its body (anyone who knows a
-- webhook's URL can send them): what it was is told by its size and digest as received.
-- Both NULL when the body is kept whole.
ALTER TABLE events ADD COLUMN received_size INTEGER;
ALTER TABLE events ADD COLUMN received_sha256 TEXT;
-- Each webhook keeps only its newest rejected events; this finds the oldest to let go.
CREATE INDEX events_rejected ON events(webhook_id, id) WHERE status = 'rejected';
