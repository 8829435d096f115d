-- The conference list sorts newest first with an unknown start last (`started_at DESC NULLS
-- LAST`, as SQLite sorts), but these indexes were built `DESC`, which PostgreSQL reads as
-- `NULLS FIRST`: no index could give the list's order, and every page sorted the whole table
-- (270 ms at 1,000,000 conferences for the first page). Rebuilt in the list's order.
DROP INDEX conferences_newest;
CREATE INDEX conferences_newest ON conferences (started_at DESC NULLS LAST, conference_uuid DESC);
DROP INDEX conferences_active;
CREATE INDEX conferences_active ON conferences (started_at DESC NULLS LAST, conference_uuid DESC)
    WHERE status = 'active';
