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
