-- Model calls that failed in a row and were retried (chat API down, 429, 5xx), counted apart
-- from `attempts` (which counts every claim, replies and takeovers included) so the retry
-- budget is the same for a task's first run and for one resumed after a reply. Reset when a
-- reply queues the task again.
ALTER TABLE tasks ADD COLUMN run_failures INTEGER NOT NULL DEFAULT 0;
