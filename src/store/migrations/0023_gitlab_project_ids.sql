-- A GitLab project keeps its number when it is renamed or moved to another group, and its
-- tasks on the old path follow it to the new one (`tasks::follow_renamed_project`), found by
-- that number and their path (the very expressions `tasks::GITLAB_PROJECT` and
-- `tasks::GITLAB_PATH` hold, or the index goes unused).
--
-- Tasks made before their source named the number as `project_id` take it from the delivery
-- that made them, kept as received.
UPDATE tasks
SET source = json_set(tasks.source, '$.detail.project_id',
                      json_extract(CAST(e.body AS TEXT), '$.project.id'))
FROM events e
WHERE e.id = tasks.event_id AND tasks.source_kind GLOB 'gitlab.*'
  AND json_valid(tasks.source)
  AND json_extract(tasks.source, '$.detail.project_id') IS NULL
  AND json_valid(CAST(e.body AS TEXT))
  AND json_type(CAST(e.body AS TEXT), '$.project.id') = 'integer'
  AND json_extract(CAST(e.body AS TEXT), '$.project.id') >= 0;

CREATE INDEX tasks_by_gitlab_project ON tasks(webhook_id,
    (CASE WHEN json_valid(source) THEN json_extract(source, '$.detail.project_id') END),
    (CASE WHEN json_valid(source) THEN json_extract(source, '$.detail.project') END))
    WHERE source_kind GLOB 'gitlab.*';
