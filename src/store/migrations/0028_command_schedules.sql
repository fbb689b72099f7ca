-- Scheduled commands: a command with trigger `schedule` fires on a 5-field cron expression
-- (`schedule`), read in `timezone` (an IANA name; NULL is UTC). Both NULL on every other
-- command. The scheduler reads the scheduled ones of all webhooks, hence the partial index.
ALTER TABLE commands ADD COLUMN schedule TEXT;
ALTER TABLE commands ADD COLUMN timezone TEXT;
CREATE INDEX commands_scheduled ON commands (id) WHERE schedule IS NOT NULL;
