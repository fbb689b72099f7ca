-- The built-in runner's progress in the current run: the model's tool calls and their results
-- so far (JSON {"messages": [...], "replied": bool}), saved after each step. A run that stops
-- part way (the chat API failed, the process died) continues from here, so the tools that
-- already acted (a comment posted, a message sent) are not called again. Cleared when the run
-- ends, asks a question or the task is cancelled.
ALTER TABLE tasks ADD COLUMN run_progress TEXT;

-- Runner claims used to be named just "runner", with a lease of the whole run's worst case
-- (up to a quarter of an hour) and were requeued when the runner started. Claims are now
-- per run and renewed while it lasts, so an old claim left by a process that died is let go
-- at once instead of waiting that lease out.
UPDATE tasks SET lease_until = 0 WHERE status = 'running' AND lease_owner = 'runner';
