-- A task's actions by the task: its newest question, whether one is still out (on every reply
-- looked up and every wait that times out), what its cancel drops. Without it each of these
-- read the outbox's whole history, or every queued row while an upstream is down.
CREATE INDEX outbox_by_task ON outbox(task_id) WHERE task_id IS NOT NULL;
