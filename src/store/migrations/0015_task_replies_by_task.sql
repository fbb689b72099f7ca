-- The reply lookups of a task, by the task: deleting a task (old events let go with their
-- tasks, see `store::retention`) deletes its lookups through the foreign key, which without
-- this index reads the whole table once per task deleted.
CREATE INDEX task_replies_by_task ON task_replies(task_id);
