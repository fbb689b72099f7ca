-- What an action posted, by the id the other side gave it: the service's own comments and
-- messages come back as events, and are known by it. Only sent rows have one, so the
-- receive path's inserts (remote_id NULL) do not touch this index.
CREATE INDEX outbox_by_remote ON outbox(remote_id) WHERE remote_id IS NOT NULL;
