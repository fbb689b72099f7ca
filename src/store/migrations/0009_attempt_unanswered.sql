-- Whether an attempt's request went out (or may have) and heard no answer: a timeout, a
-- connection lost mid-request, a send cut off. Its post may be there all the same, and its
-- announcement may come after a later attempt was delivered under another id.
ALTER TABLE outbox_attempts ADD COLUMN unanswered INTEGER NOT NULL DEFAULT 0;
-- Attempts recorded before the column: any of the last day (older ones are never compared)
-- that heard no answer may have posted, if their action is one a provider announces.
UPDATE outbox_attempts SET unanswered = 1
WHERE http_status IS NULL AND outcome <> 'delivered'
  AND started_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000
  AND outbox_id IN (SELECT id FROM outbox
                    WHERE action IN ('ask', 'comment', 'respond', 'post_message'));
-- The few such attempts of late, compared by text when a comment comes back.
CREATE INDEX outbox_attempts_unanswered ON outbox_attempts(started_at) WHERE unanswered = 1;
