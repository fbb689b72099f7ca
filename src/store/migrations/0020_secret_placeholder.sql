-- 1 while a webhook's secret is the placeholder made at its creation for a sender that issues
-- its own (Stripe, Slack, OpenAI, …): every real delivery is refused until that secret is set.
ALTER TABLE webhooks ADD COLUMN secret_placeholder INTEGER NOT NULL DEFAULT 0;
