-- Who the provider said made an action's post, as its answer named the author (a GitHub
-- login, a GitLab username, a Jira account, a Slack user): the identity the service posts
-- under on that webhook. A post announced with the words of a reply whose answer was lost is
-- taken for the service's only if made under such an identity, once one is known: a person
-- repeating those words is not the service.
ALTER TABLE outbox ADD COLUMN posted_by TEXT;
CREATE INDEX outbox_posted_by ON outbox(webhook_id, posted_by) WHERE posted_by IS NOT NULL;
