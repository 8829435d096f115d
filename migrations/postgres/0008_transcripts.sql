-- Transcriptions Vobiz posts for recordings (`transcriptionUrl`), one per recording: the text,
-- or why there is none. Keyed by recording id and not tied to the recordings table, so a
-- transcription whose recording is not known yet (its callback was lost; the account sync will
-- find it) is kept until it is.
CREATE TABLE transcripts (
    recording_id      text COLLATE "C" PRIMARY KEY,
    transcription_id  text,
    text              text,
    error             text,
    received_at       timestamptz NOT NULL
);

-- Whole-word search over the texts, for finding a meeting by what was said in it ('simple':
-- words as written, no stemming, as SQLite's index does).
CREATE INDEX transcripts_words ON transcripts
    USING gin (to_tsvector('simple', COALESCE(text, '')));
