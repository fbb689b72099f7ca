-- An incoming comment is compared with the replies still uncertain on its own thread, found
-- from the thread's events (`events_by_source`) rather than from every attempt of the last day
-- that heard no answer. A Linear or Jira thread is also found by the issue's id its events
-- name (a Jira issue keeps its id when it moves and its key changes): indexed by the very
-- expression `outbox::EVENT_ISSUE_ID` holds, or the index goes unused. Jira events stored
-- before 0022 name the issue's id as `id` only.
CREATE INDEX events_by_issue_id ON events(webhook_id,
    (CASE WHEN json_valid(source) THEN CASE provider
         WHEN 'linear' THEN json_extract(source, '$.detail.issue_id')
         ELSE coalesce(json_extract(source, '$.detail.issue_id'),
                       CAST(json_extract(source, '$.detail.id') AS TEXT)) END END))
    WHERE provider IN ('linear', 'jira');
