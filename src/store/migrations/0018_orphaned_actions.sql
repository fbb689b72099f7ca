-- Actions naming an event that is gone: before rejected events were refused as a message's
-- event, a `post_message` could name one, and pruning it left the action pointing at nothing;
-- neither the event retention (which deletes actions with their event) nor the sweep of
-- actions without an event (which looks at `event_id IS NULL`) ever reached them. They are
-- made actions without an event, which is what they are now, and follow that sweep's rules.
UPDATE outbox SET event_id = NULL
WHERE event_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = outbox.event_id);
