-- The prune of old webhook messages: the only index on deliveries' message_id is partial
-- (replays are left out of it), so the foreign key's check of each deleted message, a query
-- the server runs per row, could not use it and read every delivery. Messages also had no index
-- on their age once fanned out.
CREATE INDEX webhook_messages_by_age ON webhook_messages (created_at)
    WHERE fanned_out_at IS NOT NULL;
CREATE INDEX webhook_deliveries_by_message ON webhook_deliveries (message_id);
