//! The one statement a callback batch reads ahead with, and its rows as the working set
//! learns them. A write and three questions (store these nonces; which of these events are
//! stored; these conferences' facts; these calls' legs) go as one statement rather than four,
//! since each statement costs the server a parse, a bind and an answer of its own: the answers
//! come back as one stream of rows, each tagged with the question it answers and using the
//! columns that question needs.

use std::collections::HashSet;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::working_set::{Ahead, Facts, LegKey, LegRow};
use crate::time::Instant;

/// The statement. Every lookup is one index probe per key, as a lateral subquery the planner
/// cannot flatten: `= ANY` over a whole array gets a sequential scan in a generic plan while
/// the table has no statistics yet (a new database, its first minute). The nonces' insert is
/// the only write; the lookups read other tables, so sharing its snapshot changes nothing.
///
/// The insert is a plain one, without `ON CONFLICT`: a nonce is new but for a replay, and the
/// server's speculative insertion (a probe, a token and a confirming log record per row) cost
/// every callback. A nonce already stored fails the statement, and with it the batch, which
/// the writer then replays one callback at a time, each with the rules' own statements.
pub const READ_AHEAD: &str = "WITH stored AS (
         INSERT INTO seen_nonces (nonce, body_hash, seen_at)
         SELECT * FROM unnest($1::text[], $2::bytea[], $3::timestamptz[]))
     SELECT 'e'::\"char\" AS answers, NULL::text AS t1, NULL::text AS t2, NULL::text AS t3,
            NULL::text AS t4, NULL::text AS t5, NULL::text AS t6, NULL::text AS t7,
            e.dedupe_key AS bytes, NULL::boolean AS b1, NULL::boolean AS b2,
            NULL::timestamptz AS at1, NULL::timestamptz AS at2
     FROM unnest($4::bytea[]) AS k(key),
         LATERAL (SELECT dedupe_key FROM callback_events WHERE dedupe_key = k.key OFFSET 0) AS e
     UNION ALL
     SELECT 'c', c.conference_uuid, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            c.status = 'ended', c.last_member_exit_at IS NOT NULL, NULL, NULL
     FROM unnest($5::text[]) AS k(uuid),
         LATERAL (SELECT conference_uuid, status, last_member_exit_at
                  FROM conferences WHERE conference_uuid = k.uuid OFFSET 0) AS c
     UNION ALL
     SELECT 'l', p.conference_uuid, p.call_uuid, p.member_id, p.from_number,
            p.from_normalized, p.to_number, p.direction, NULL, NULL, NULL, p.joined_at, p.left_at
     FROM unnest($6::text[]) AS k(call),
         LATERAL (SELECT conference_uuid, call_uuid, member_id, from_number, from_normalized,
                         to_number, direction, joined_at, left_at
                  FROM participants WHERE call_uuid = k.call OFFSET 0) AS p";

/// The statement's parameters for `ahead`: the first of each nonce only, as one callback at a
/// time would store it (a nonce already known is left to the rules' own check).
pub struct Params<'a> {
    names: Vec<&'a str>,
    hashes: Vec<&'a [u8]>,
    times: Vec<Instant>,
    ahead: &'a Ahead<'a>,
}

impl<'a> Params<'a> {
    pub fn of(ahead: &'a Ahead<'a>) -> Self {
        let mut seen = HashSet::new();
        let mut params = Self {
            names: Vec::new(),
            hashes: Vec::new(),
            times: Vec::new(),
            ahead,
        };
        for (nonce, hash, at) in &ahead.nonces {
            if seen.insert(*nonce) {
                params.names.push(nonce);
                params.hashes.push(hash.as_slice());
                params.times.push(*at);
            }
        }
        params
    }

    /// The nonces the statement stores (when it succeeds), with their body's hash.
    pub fn nonces(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.names.iter().copied().zip(self.hashes.iter().copied())
    }

    pub fn as_sql(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.names,
            &self.hashes,
            &self.times,
            &self.ahead.event_keys,
            &self.ahead.conferences,
            &self.ahead.calls,
        ]
    }
}

/// The answers, sorted by question.
#[derive(Default)]
pub struct Answers {
    pub stored_events: Vec<Vec<u8>>,
    pub conferences: Vec<(String, Facts)>,
    pub legs: Vec<(LegKey, LegRow)>,
}

impl Answers {
    pub fn from_rows(rows: &[Row]) -> Result<Self, tokio_postgres::Error> {
        let mut answers = Self::default();
        for r in rows {
            match r.try_get::<_, i8>(0)? as u8 {
                b'e' => answers.stored_events.push(r.try_get(8)?),
                b'c' => {
                    let facts = Facts {
                        ended: r.try_get(9)?,
                        last_member_left: r.try_get(10)?,
                    };
                    answers.conferences.push((r.try_get(1)?, facts));
                }
                b'l' => {
                    let key = (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
                    let row = LegRow {
                        from: r.try_get(4)?,
                        from_normalized: r.try_get(5)?,
                        to: r.try_get(6)?,
                        direction: r.try_get(7)?,
                        joined_at: r.try_get(11)?,
                        left_at: r.try_get(12)?,
                    };
                    answers.legs.push((key, row));
                }
                // The statement tags no other rows.
                _ => {}
            }
        }
        Ok(answers)
    }
}
