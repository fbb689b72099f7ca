-- The host (host:port, or a provider's name for its API) each action goes to: the worker
-- passes over the due rows of a host that already has its share of the senders. Rows queued
-- before this column share the empty host until they are sent.
ALTER TABLE outbox ADD COLUMN host TEXT NOT NULL DEFAULT '';
