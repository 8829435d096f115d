-- Housekeeping looks only at unlinked recordings that arrived since its previous round: a range
-- on this index instead of every unlinked recording every second (the account sync makes many
-- that stay unlinked for good).
CREATE INDEX recordings_unlinked_by_age ON recordings (created_at) WHERE conference_uuid IS NULL;
