-- A reply finds its tasks without reading every task of its webhook.
--
-- A Linear comment names its issue by id, whatever key the task's event gave the issue: the
-- tasks on Linear issues, by that id (the same expression `tasks::waiting_on_linear_issue`
-- looks it up by, or the index goes unused).
CREATE INDEX tasks_by_linear_issue ON tasks(webhook_id,
    (CASE WHEN json_valid(source) THEN json_extract(source, '$.detail.issue_id') END))
    WHERE source_kind = 'linear.issue';

-- The events each task's conversation took as replies, written where a reply is attached:
-- whether an event answered a task is then looked up in the conversations that hold it, not
-- in every conversation of the webhook. A row may outlive its reply in the conversation (a
-- run kept whole takes its replies in); the lookup reads the conversation to be sure.
CREATE TABLE task_replies (
    event_id TEXT NOT NULL,
    task_id  TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, task_id)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO task_replies (event_id, task_id)
SELECT e.event_id, e.task_id FROM (
    SELECT t.id AS task_id,
           CASE WHEN c.type = 'object' THEN json_extract(c.value, '$.event_id') END AS event_id
    FROM tasks t
    JOIN json_each(CASE WHEN json_valid(t.conversation) THEN t.conversation ELSE '[]' END) c
) e
WHERE typeof(e.event_id) = 'text';
