-- Whether an attempt's request went out (or may have) and heard no answer: a timeout, a
-- connection lost mid-request, a send cut off. Its post may be there all the same, and its
-- announcement may come after a later attempt was delivered under another id.
ALTER TABLE outbox_attempts ADD COLUMN unanswered INTEGER NOT NULL DEFAULT 0;
-- Attempts recorded before the column: any of the last day (older ones are never compared)
-- whose request went out and heard no answer may have posted, if their action is one a
-- provider announces. Their errors say which (`actions::client::transport_error`'s words
-- since the first build): one that timed out or failed on the way, not one that could not
-- connect or never went (no token configured, a refused target). The words do not tell a
-- connection that timed out, or (before 2026-12-01) a request that could not be built, from
-- the rest: those are taken as possibly posted too.
UPDATE outbox_attempts SET unanswered = 1
WHERE http_status IS NULL AND outcome <> 'delivered'
  AND (error LIKE '%: timed out: %' OR error LIKE '%: request failed: %')
  AND started_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000
  AND outbox_id IN (SELECT id FROM outbox
                    WHERE action IN ('ask', 'comment', 'respond', 'post_message'));
-- The few such attempts of late, compared by text when a comment comes back.
CREATE INDEX outbox_attempts_unanswered ON outbox_attempts(started_at) WHERE unanswered = 1;
