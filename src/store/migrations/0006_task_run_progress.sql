-- The built-in runner's progress in the current run: the model's tool calls and their results
-- so far (JSON {"messages": [...], "replied": bool}), saved after each step. A run that stops
-- part way (the chat API failed, the process died) continues from here, so the tools that
-- already acted (a comment posted, a message sent) are not called again. Cleared when the run
-- ends, asks a question or the task is cancelled.
ALTER TABLE tasks ADD COLUMN run_progress TEXT;
