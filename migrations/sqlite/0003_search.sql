-- Finding conferences: newest first with keyset pagination, and substring search on names.

CREATE INDEX conferences_newest ON conferences (started_at DESC, conference_uuid DESC);
DROP INDEX conferences_by_start;
-- Conferences still running are few: a partial index finds them without a scan.
CREATE INDEX conferences_active ON conferences (started_at DESC, conference_uuid DESC)
    WHERE status = 'active';

-- Trigram full-text index over names, kept in step with conferences by triggers.
CREATE VIRTUAL TABLE conference_names USING fts5 (
    name,
    content = 'conferences',
    content_rowid = 'rowid',
    tokenize = 'trigram'
);
INSERT INTO conference_names (rowid, name) SELECT rowid, name FROM conferences;

CREATE TRIGGER conference_names_insert AFTER INSERT ON conferences BEGIN
    INSERT INTO conference_names (rowid, name) VALUES (new.rowid, new.name);
END;
-- Only when the name really changes: ingestion touches the name column on every callback.
CREATE TRIGGER conference_names_update AFTER UPDATE OF name ON conferences
WHEN old.name <> new.name BEGIN
    INSERT INTO conference_names (conference_names, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO conference_names (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER conference_names_delete AFTER DELETE ON conferences BEGIN
    INSERT INTO conference_names (conference_names, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
