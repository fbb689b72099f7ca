-- An incoming comment is compared with our replies that may be on its thread unannounced
-- (`outbox::Way`). Found from the thread's events, that read one index entry per event, and a
-- pull request's check runs are thousands of events with no reply. Each reply now keeps its
-- event's thread key and, for Linear and Jira, the issue's id its event names (the issue keeps
-- it when it moves and its key changes; Jira events stored before 0022 name it as `id` only),
-- so the thread's replies are read from an index of replies alone.
ALTER TABLE outbox ADD COLUMN thread_key TEXT;
ALTER TABLE outbox ADD COLUMN thread_issue_id TEXT;
UPDATE outbox
SET thread_key = e.source_key,
    thread_issue_id = CASE WHEN e.provider IN ('linear', 'jira') AND json_valid(e.source) THEN
        CASE e.provider
            WHEN 'linear' THEN json_extract(e.source, '$.detail.issue_id')
            ELSE coalesce(json_extract(e.source, '$.detail.issue_id'),
                          CAST(json_extract(e.source, '$.detail.id') AS TEXT)) END END
FROM events e
WHERE e.id = outbox.event_id AND outbox.action IN ('ask', 'comment', 'respond');
CREATE INDEX outbox_by_thread ON outbox(thread_key, id) WHERE thread_key IS NOT NULL;
CREATE INDEX outbox_by_issue_id ON outbox(thread_issue_id, id) WHERE thread_issue_id IS NOT NULL;
-- The thread is no longer found by its events' issue id.
DROP INDEX events_by_issue_id;

-- An Open WebUI channel post coming back is compared with the channel posts that may be there
-- unannounced, found among the attempts of the last day that heard no answer: each attempt
-- now names its row's action, so those of replies (a GitHub outage's timeouts) are not read
-- for it, nor a channel post's for a comment. Only such attempts are indexed, so only theirs
-- are filled in here.
ALTER TABLE outbox_attempts ADD COLUMN action TEXT;
UPDATE outbox_attempts SET action = (SELECT o.action FROM outbox o WHERE o.id = outbox_id)
WHERE unanswered = 1;
DROP INDEX outbox_attempts_unanswered;
CREATE INDEX outbox_attempts_unanswered ON outbox_attempts(action, started_at) WHERE unanswered = 1;
