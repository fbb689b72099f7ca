-- A Jira issue keeps its id when its key changes (moved to another project), and an older
-- Data Center sender's comment event names its issue by that id alone: replies find the
-- questions asked on an issue by it too (looked up by the very expression `tasks::ISSUE_ID`
-- holds, or the index goes unused).
--
-- Tasks made before their source named the id as `issue_id` take it from the issue's `id`,
-- or from their key where an event without its issue keyed them by its id.
UPDATE tasks
SET source = json_set(source, '$.detail.issue_id',
                      CAST(json_extract(source, '$.detail.id') AS TEXT))
WHERE source_kind = 'jira.issue' AND json_valid(source)
  AND json_extract(source, '$.detail.issue_id') IS NULL
  AND json_type(source, '$.detail.id') IN ('text', 'integer')
  AND CAST(json_extract(source, '$.detail.id') AS TEXT) GLOB '[0-9]*'
  AND NOT CAST(json_extract(source, '$.detail.id') AS TEXT) GLOB '*[^0-9]*';
UPDATE tasks
SET source = json_set(source, '$.detail.issue_id', source_key)
WHERE source_kind = 'jira.issue' AND json_valid(source)
  AND json_extract(source, '$.detail.issue_id') IS NULL
  AND source_key GLOB '[0-9]*' AND NOT source_key GLOB '*[^0-9]*';

CREATE INDEX tasks_by_jira_issue ON tasks(webhook_id,
    (CASE WHEN json_valid(source) THEN json_extract(source, '$.detail.issue_id') END))
    WHERE source_kind = 'jira.issue';
