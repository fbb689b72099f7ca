-- Replies find the tasks on their thread that take them: waiting ones, ones running on an
-- earlier reply, and ones failed for want of a reply in time. The partial index on waiting
-- tasks covers only the first, so this one covers the thread whatever the status.
CREATE INDEX tasks_by_source ON tasks(webhook_id, source_key);
