-- A claim looks through the due rows in time order for one whose host has senders to spare:
-- with the host (and id) in the index it reads no row to pass one over, and with one query
-- per status it never sorts the whole backlog.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(status, next_attempt_at, host, id);
-- Replies and channel posts still on their way, which an incoming comment or message may be
-- the announcement of: found without reading a backlog of other actions.
CREATE INDEX outbox_unconfirmed ON outbox(action, status)
    WHERE remote_id IS NULL AND status IN ('pending', 'retrying', 'sending');
-- The action list, newest first, of one status or one webhook: a rare status or a quiet
-- webhook is found without reading every action.
CREATE INDEX outbox_by_status ON outbox(status, id);
CREATE INDEX outbox_by_webhook ON outbox(webhook_id, id);
