-- The nonce log becomes a rowid table. Keyed by (seen_at, nonce) without a row id, every batch
-- of callbacks appended to it rewrote about four of its pages (measured in the write-ahead log:
-- 4.2 pages a commit of some 18 callbacks): an index B-tree splits its last leaf in two and
-- rebalances it with its neighbours, leaving pages half full. A rowid table appended to adds
-- a page only when its last one is full. Rows arrive in time order (one writer stamps them),
-- so expiry deletes from the start up to the first row still young (src/db/sqlite/nonces.rs).
CREATE TABLE seen_nonces_by_rowid (
    id         INTEGER PRIMARY KEY,
    nonce      TEXT NOT NULL,
    body_hash  BLOB NOT NULL,
    seen_at    TEXT NOT NULL
);
INSERT INTO seen_nonces_by_rowid (nonce, body_hash, seen_at)
    SELECT nonce, body_hash, seen_at FROM seen_nonces ORDER BY seen_at, nonce;
DROP TABLE seen_nonces;
ALTER TABLE seen_nonces_by_rowid RENAME TO seen_nonces;
