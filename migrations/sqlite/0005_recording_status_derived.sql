-- A recording's status is derived from its archive job and archived_at (see
-- db/sqlite/recordings.rs, STATUS_SQL); the column kept by hand is no longer read or written.
ALTER TABLE recordings DROP COLUMN status;
