-- What was added to migrations 0021 and 0022 after they were first committed, for the
-- databases the builds between made: they ran the first version, and a migration runs once,
-- so they never got the rest. Each statement does nothing where it already did its work.
-- (0006's later `lease_owner = 'runner'` release is not repeated: an external agent may name
-- itself `runner`, and its live claim would be let go. 0009's later edits only narrowed which
-- attempts it marked.)

-- 0021, from 2026-12-05 (278cda4): the action list's indexes by status and by webhook.
CREATE INDEX IF NOT EXISTS outbox_by_status ON outbox(status, id);
CREATE INDEX IF NOT EXISTS outbox_by_webhook ON outbox(webhook_id, id);

-- 0022, from 2026-12-06 (45e1238): a Jira task keyed by its issue's id takes it as issue_id.
UPDATE tasks
SET source = json_set(source, '$.detail.issue_id', source_key)
WHERE source_kind = 'jira.issue' AND json_valid(source)
  AND json_extract(source, '$.detail.issue_id') IS NULL
  AND source_key GLOB '[0-9]*' AND NOT source_key GLOB '*[^0-9]*';
