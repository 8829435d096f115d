-- Finding a meeting by what was said in it, newest first, without collecting every match.
--
-- The full-text index over transcripts is keyed so that its own order is the order of the
-- conference list: each transcript's row id is the start second of its recording's conference
-- times 2^20, plus a sequence within that second. FTS5 reads a word's matches in descending row
-- id, so the newest conferences that mention a word come first, and a page is found after about
-- a page of matches, however common the word. (Keyed by recording, as before, a common word meant
-- collecting and sorting hundreds of thousands of matches: seconds at a million conferences.)
--
-- A second is the coarsest key that keeps the order: two conferences in different seconds are
-- never out of order, and the search reads every match of the last second it takes, then sorts
-- by the exact start. Transcripts whose recording or conference is not known (yet), or whose
-- conference has no start, sort last, in the lowest second, -2^42. The keys move when what they
-- derive from changes: a conference's start, a recording's link, a recording coming or going.

-- Each transcript that has a text, with its conference, if known, and the second it started.
CREATE VIEW transcript_recency AS
SELECT t.recording_id, c.conference_uuid,
       COALESCE(CAST(strftime('%s', c.started_at) AS INTEGER), -4398046511104) AS second
FROM transcripts t
LEFT JOIN recordings r ON r.recording_id = t.recording_id
LEFT JOIN conferences c ON c.conference_uuid = r.conference_uuid
WHERE t.text IS NOT NULL;

-- The conference is kept with the key so that a search goes from a match to its conference in
-- one lookup, not through the recording.
CREATE TABLE transcript_search_keys (
    key              INTEGER PRIMARY KEY,
    recording_id     TEXT NOT NULL UNIQUE,
    conference_uuid  TEXT
);
CREATE INDEX transcript_search_keys_by_conference ON transcript_search_keys (conference_uuid);

CREATE VIRTUAL TABLE transcript_search USING fts5 (
    text,
    content = '',
    contentless_delete = 1
);

-- A key row stands for the transcript's entry in the index: the index follows the keys.
CREATE TRIGGER transcript_search_keys_insert AFTER INSERT ON transcript_search_keys BEGIN
    INSERT INTO transcript_search (rowid, text)
        SELECT new.key, text FROM transcripts WHERE recording_id = new.recording_id;
END;
CREATE TRIGGER transcript_search_keys_delete AFTER DELETE ON transcript_search_keys BEGIN
    DELETE FROM transcript_search WHERE rowid = old.key;
END;

-- Indexing one transcript afresh: its old key, if any, goes; a key in its current second comes.
-- Inserting a recording id here is the one way keys are given, so the rule lives in one place.
CREATE VIEW transcript_search_reindex AS SELECT recording_id FROM transcript_search_keys;
CREATE TRIGGER transcript_search_reindex_one INSTEAD OF INSERT ON transcript_search_reindex
BEGIN
    DELETE FROM transcript_search_keys WHERE recording_id = new.recording_id;
    INSERT INTO transcript_search_keys (key, recording_id, conference_uuid)
    SELECT COALESCE((SELECT MAX(k.key) FROM transcript_search_keys k
                     WHERE k.key >= v.second * 1048576 AND k.key < (v.second + 1) * 1048576),
                    v.second * 1048576 - 1) + 1,
           v.recording_id, v.conference_uuid
    FROM transcript_recency v WHERE v.recording_id = new.recording_id;
END;

INSERT INTO transcript_search_reindex (recording_id)
    SELECT recording_id FROM transcripts WHERE text IS NOT NULL;

CREATE TRIGGER transcript_search_transcript_insert AFTER INSERT ON transcripts
WHEN new.text IS NOT NULL BEGIN
    INSERT INTO transcript_search_reindex (recording_id) VALUES (new.recording_id);
END;
CREATE TRIGGER transcript_search_transcript_update AFTER UPDATE OF text ON transcripts BEGIN
    INSERT INTO transcript_search_reindex (recording_id) VALUES (new.recording_id);
END;
CREATE TRIGGER transcript_search_transcript_delete AFTER DELETE ON transcripts BEGIN
    DELETE FROM transcript_search_keys WHERE recording_id = old.recording_id;
END;

-- A recording that arrives after its transcript, changes conference or goes: its transcript's
-- second changes.
CREATE TRIGGER transcript_search_recording_insert AFTER INSERT ON recordings
WHEN EXISTS (SELECT 1 FROM transcript_search_keys WHERE recording_id = new.recording_id) BEGIN
    INSERT INTO transcript_search_reindex (recording_id) VALUES (new.recording_id);
END;
CREATE TRIGGER transcript_search_recording_link AFTER UPDATE OF conference_uuid ON recordings
WHEN old.conference_uuid IS NOT new.conference_uuid
     AND EXISTS (SELECT 1 FROM transcript_search_keys WHERE recording_id = new.recording_id) BEGIN
    INSERT INTO transcript_search_reindex (recording_id) VALUES (new.recording_id);
END;
CREATE TRIGGER transcript_search_recording_delete AFTER DELETE ON recordings
WHEN EXISTS (SELECT 1 FROM transcript_search_keys WHERE recording_id = old.recording_id) BEGIN
    INSERT INTO transcript_search_reindex (recording_id) VALUES (old.recording_id);
END;

-- A conference that starts earlier than first thought (a late callback): its transcripts move
-- with it. The WHEN clause keeps ingestion, which touches started_at on many callbacks, to one
-- comparison. (Recordings reference their conference and foreign keys are on, so no recording
-- comes before its conference: a new conference has nothing to move, and no trigger on insert.)
CREATE TRIGGER transcript_search_conference_start AFTER UPDATE OF started_at ON conferences
WHEN strftime('%s', old.started_at) IS NOT strftime('%s', new.started_at) BEGIN
    INSERT INTO transcript_search_reindex (recording_id)
        SELECT recording_id FROM transcript_search_keys WHERE conference_uuid = new.conference_uuid;
END;

-- The index keyed by recording is replaced.
DROP TRIGGER transcript_words_insert;
DROP TRIGGER transcript_words_update;
DROP TRIGGER transcript_words_delete;
DROP TABLE transcript_words;
