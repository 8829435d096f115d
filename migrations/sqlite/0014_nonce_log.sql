-- Seen nonces become a log kept in the order they arrive. Keyed by the nonce, every callback
-- inserted into a random leaf (Vobiz's nonces are random 20-digit numbers): a page written to
-- the write-ahead log per callback, about 8 KB of log and 25% of ingest's speed under load.
-- Keyed by arrival, inserts land at the log's end and expiry deletes from its start. The
-- lookup by nonce is the writer connection's in-memory table, built from this log at start
-- (src/db/sqlite/nonces.rs). The columns keep their names and order.
CREATE TABLE seen_nonces_by_arrival (
    nonce      TEXT NOT NULL,
    body_hash  BLOB NOT NULL,
    seen_at    TEXT NOT NULL,
    PRIMARY KEY (seen_at, nonce)
) WITHOUT ROWID;
INSERT INTO seen_nonces_by_arrival (nonce, body_hash, seen_at)
    SELECT nonce, body_hash, seen_at FROM seen_nonces;
DROP TABLE seen_nonces;
ALTER TABLE seen_nonces_by_arrival RENAME TO seen_nonces;
