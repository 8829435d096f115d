-- Two tables the ingest path writes for every callback are found by their natural keys and
-- never by their ids, yet each id's primary-key index took an entry per row:
--   * a stored callback is found by its dedupe key (is a redelivery new?);
--   * a call leg by its conference, call and member (the roster), or by its call.
-- Those unique, not-null keys are the tables' keys from now on: their indexes stay as they
-- are and name the rows for logical replication. Making them primary keys instead would
-- rebuild them under an exclusive lock, stopping ingest for as long as that takes on a long
-- history. The id columns stay, numbered as before: rows keep their order of arrival (a
-- roster's tiebreak), and `db copy` its shape.
ALTER TABLE callback_events DROP CONSTRAINT callback_events_pkey;
ALTER TABLE callback_events REPLICA IDENTITY USING INDEX callback_events_dedupe_key_key;
ALTER TABLE participants DROP CONSTRAINT participants_pkey;
ALTER TABLE participants
    REPLICA IDENTITY USING INDEX participants_conference_uuid_call_uuid_member_id_key;
