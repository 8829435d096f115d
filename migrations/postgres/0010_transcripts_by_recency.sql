-- Finding a meeting by what was said in it, newest first, without collecting every match.
--
-- Each transcript with a text whose recording belongs to a conference has a row here with that
-- conference's start and the transcript's words, tokenized once. A search walks the rows newest
-- first (in the conference list's order) checking the stored words, or, for a rare word, takes
-- its few matches from the GIN index and sorts them: the planner picks by the words' statistics.
-- (Checking each conference's transcript as the list is walked tokenized every text again: 0.17
-- ms each, and 1.4 s for two words in 1.8% of transcripts at 1,000,000 conferences.)
CREATE TABLE transcript_search (
    recording_id     text COLLATE "C" PRIMARY KEY,
    conference_uuid  text COLLATE "C" NOT NULL,
    started_at       timestamptz,
    words            tsvector NOT NULL
);
CREATE INDEX transcript_search_words ON transcript_search USING gin (words);
-- The planner's choice between walking and the GIN index rests on how common each word is.
-- With the default statistics a word not among the most common was guessed at 0.5% of
-- transcripts, so a rare one was walked for (0.6 s at 1,000,000 conferences); a longer list
-- of common words brings the guess for the rest down to what they are.
ALTER TABLE transcript_search ALTER COLUMN words SET STATISTICS 1000;
CREATE INDEX transcript_search_newest
    ON transcript_search (started_at DESC NULLS LAST, conference_uuid DESC);
CREATE INDEX transcript_search_by_conference ON transcript_search (conference_uuid);

-- One transcript's row, made afresh from what it derives from (or gone, if it has no text or
-- no conference).
CREATE FUNCTION transcript_search_refresh(id text) RETURNS void LANGUAGE sql AS $$
    DELETE FROM transcript_search WHERE recording_id = id;
    INSERT INTO transcript_search (recording_id, conference_uuid, started_at, words)
    SELECT t.recording_id, c.conference_uuid, c.started_at, to_tsvector('simple', t.text)
    FROM transcripts t
    JOIN recordings r ON r.recording_id = t.recording_id
    JOIN conferences c ON c.conference_uuid = r.conference_uuid
    WHERE t.recording_id = id AND t.text IS NOT NULL;
$$;

INSERT INTO transcript_search (recording_id, conference_uuid, started_at, words)
SELECT t.recording_id, c.conference_uuid, c.started_at, to_tsvector('simple', t.text)
FROM transcripts t
JOIN recordings r ON r.recording_id = t.recording_id
JOIN conferences c ON c.conference_uuid = r.conference_uuid
WHERE t.text IS NOT NULL;
ANALYZE transcript_search;

CREATE FUNCTION transcript_search_follow_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM transcript_search_refresh(OLD.recording_id);
    ELSE
        PERFORM transcript_search_refresh(NEW.recording_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transcript_search_transcript_insert AFTER INSERT ON transcripts
    FOR EACH ROW WHEN (NEW.text IS NOT NULL) EXECUTE FUNCTION transcript_search_follow_row();
CREATE TRIGGER transcript_search_transcript_update AFTER UPDATE OF text ON transcripts
    FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text)
    EXECUTE FUNCTION transcript_search_follow_row();
CREATE TRIGGER transcript_search_transcript_delete AFTER DELETE ON transcripts
    FOR EACH ROW EXECUTE FUNCTION transcript_search_follow_row();

-- A recording that arrives after its transcript, changes conference or goes. Recordings come
-- at a conference's end, not with every callback; the refresh is two index probes when there
-- is no transcript.
CREATE TRIGGER transcript_search_recording_insert AFTER INSERT ON recordings
    FOR EACH ROW WHEN (NEW.conference_uuid IS NOT NULL)
    EXECUTE FUNCTION transcript_search_follow_row();
CREATE TRIGGER transcript_search_recording_link AFTER UPDATE OF conference_uuid ON recordings
    FOR EACH ROW WHEN (OLD.conference_uuid IS DISTINCT FROM NEW.conference_uuid)
    EXECUTE FUNCTION transcript_search_follow_row();
CREATE TRIGGER transcript_search_recording_delete AFTER DELETE ON recordings
    FOR EACH ROW EXECUTE FUNCTION transcript_search_follow_row();

-- A conference that starts earlier than first thought (a late callback). The WHEN clause is
-- checked without calling the function, so ingestion, which sets started_at on many callbacks,
-- pays one comparison. (Recordings reference their conference, so none comes before it.)
CREATE FUNCTION transcript_search_follow_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE transcript_search SET started_at = NEW.started_at
    WHERE conference_uuid = NEW.conference_uuid;
    RETURN NULL;
END
$$;
CREATE TRIGGER transcript_search_conference_start AFTER UPDATE OF started_at ON conferences
    FOR EACH ROW WHEN (OLD.started_at IS DISTINCT FROM NEW.started_at)
    EXECUTE FUNCTION transcript_search_follow_start();

-- The index on transcripts stays: listing recordings by words said covers recordings not linked
-- to a conference, which have no row here.
