-- An incoming comment is compared with the replies that may be unannounced on its thread,
-- found either from all such replies or from the thread's events, whichever are fewer
-- (`outbox::Way`). A thread is read from its events' index alone, so the index holds their
-- ids; a Linear or Jira thread is also found by the issue's id its events name (a Jira issue
-- keeps its id when it moves and its key changes), indexed by the very expression
-- `outbox::EVENT_ISSUE_ID` holds, or the index goes unused. Jira events stored before 0022
-- name the issue's id as `id` only.
DROP INDEX events_by_source;
CREATE INDEX events_by_source ON events(webhook_id, source_key, id) WHERE source_key IS NOT NULL;
CREATE INDEX events_by_issue_id ON events(webhook_id,
    (CASE WHEN json_valid(source) THEN CASE provider
         WHEN 'linear' THEN json_extract(source, '$.detail.issue_id')
         ELSE coalesce(json_extract(source, '$.detail.issue_id'),
                       CAST(json_extract(source, '$.detail.id') AS TEXT)) END END), id)
    WHERE provider IN ('linear', 'jira');
