-- Whether an attempt's request went out (or may have) and heard no answer: a timeout, a
-- connection lost mid-request, a send cut off. Its post may be there all the same, and its
-- announcement may come after a later attempt was delivered under another id.
ALTER TABLE outbox_attempts ADD COLUMN unanswered INTEGER NOT NULL DEFAULT 0;
-- Attempts recorded before the column: any that heard no answer may have posted.
UPDATE outbox_attempts SET unanswered = 1 WHERE http_status IS NULL AND outcome <> 'delivered';
-- The few such attempts of late, compared by text when a comment comes back.
CREATE INDEX outbox_attempts_unanswered ON outbox_attempts(started_at) WHERE unanswered = 1;
