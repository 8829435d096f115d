-- The hourly prune of webhook messages runs in the write transaction that ingest waits on, and
-- it read both tables whole. Messages had no index on their age once fanned out. Worse, the
-- only index on deliveries' message_id is partial (replays are left out of it), so neither the
-- prune's "does a delivery still refer to it" nor the foreign key's check of each deleted
-- message could use it: every deleted message read every delivery.
CREATE INDEX webhook_messages_by_age ON webhook_messages (created_at)
    WHERE fanned_out_at IS NOT NULL;
CREATE INDEX webhook_deliveries_by_message ON webhook_deliveries (message_id);
