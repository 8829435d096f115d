-- Transcriptions Vobiz posts for recordings (`transcriptionUrl`), one per recording: the text,
-- or why there is none. Keyed by recording id and not tied to the recordings table, so a
-- transcription whose recording is not known yet (its callback was lost; the account sync will
-- find it) is kept until it is.
CREATE TABLE transcripts (
    recording_id      TEXT PRIMARY KEY,
    transcription_id  TEXT,
    text              TEXT,
    error             TEXT,
    received_at       TEXT NOT NULL
) WITHOUT ROWID;

-- Whole-word full-text index over the texts, for finding a meeting by what was said in it; kept
-- in step by triggers. A transcript's text changes at most once (a text replacing a failure).
CREATE VIRTUAL TABLE transcript_words USING fts5 (
    recording_id UNINDEXED,
    text
);
CREATE TRIGGER transcript_words_insert AFTER INSERT ON transcripts
WHEN new.text IS NOT NULL BEGIN
    INSERT INTO transcript_words (recording_id, text) VALUES (new.recording_id, new.text);
END;
CREATE TRIGGER transcript_words_update AFTER UPDATE OF text ON transcripts BEGIN
    DELETE FROM transcript_words WHERE recording_id = old.recording_id;
    INSERT INTO transcript_words (recording_id, text)
        SELECT new.recording_id, new.text WHERE new.text IS NOT NULL;
END;
CREATE TRIGGER transcript_words_delete AFTER DELETE ON transcripts BEGIN
    DELETE FROM transcript_words WHERE recording_id = old.recording_id;
END;
