//! A callback batch's working set on PostgreSQL: what its transaction read ahead of the rules,
//! for the whole batch in one round trip, and the writes of the rules it holds back, merged,
//! until a statement that could see them runs or the batch commits. The rules then apply a
//! batch of enters and exits without a round trip of their own, and the server runs a few
//! statements per batch instead of several per callback.
//!
//! Why the answers stay exact: the batch holds the advisory locks of its conferences and call
//! legs, so nobody else changes them meanwhile, and every change this transaction makes to
//! what is kept here passes through here. Held-back writes are flushed, in the order the
//! tables depend on each other, before any other statement is sent, so whatever the server runs
//! sees what one write at a time would have left. An event that another replica stores at the
//! same moment (a key no lock covers) fails the flush's plain `INSERT` on its unique key, and
//! the batch is then replayed one callback at a time, each with its own statements.
//!
//! Outside a batch (housekeeping, the one-at-a-time replay) nothing is read ahead and every
//! call here answers "not known", so each rule runs its own statement.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use chrono::{DurationRound, TimeDelta};

use super::combined::Combined;
use super::types::Owned;
use crate::db::ingest_tx::{Caller, ConferenceActivity, Leg, NewEvent, Touched};
use crate::time::Instant;

/// What a batch's rules will ask about, gathered before they run.
#[derive(Default)]
pub struct Ahead<'a> {
    pub nonces: Vec<(&'a str, [u8; 32], Instant)>,
    pub event_keys: Vec<Vec<u8>>,
    pub conferences: Vec<&'a str>,
    /// Call legs whose enters and exits the batch carries.
    pub calls: Vec<&'a str>,
}

/// A conference's facts that decide the rules' next step.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub ended: bool,
    pub last_member_left: bool,
}

/// A participant row, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegRow {
    pub from: Option<String>,
    pub from_normalized: Option<String>,
    pub to: Option<String>,
    pub direction: Option<String>,
    pub joined_at: Option<Instant>,
    pub left_at: Option<Instant>,
}

/// A leg's key: conference, call, member id ('' for none, as stored).
pub type LegKey = (String, String, String);

/// The touches of one conference since the last flush, merged as one touch at a time would
/// have left them: the first name given, the earliest start, the largest size, the first and
/// last moment.
struct MergedTouch {
    uuid: String,
    name: Option<String>,
    started_at: Instant,
    peak_size: Option<i32>,
    created_at: Instant,
    updated_at: Instant,
}

/// An event held back, owned.
struct HeldEvent {
    endpoint: &'static str,
    dedupe_key: Vec<u8>,
    method: String,
    raw_body: String,
    kind: String,
    conference_uuid: Option<String>,
    call_uuid: Option<String>,
    received_at: Instant,
}

#[derive(Default)]
pub struct WorkingSet {
    /// Nonces (with their body's hash) this transaction stored ahead; answered once each.
    fresh_nonces: HashSet<(String, Vec<u8>)>,
    /// Event keys asked about ahead, and which of them are stored (or held back to be).
    asked_events: HashSet<Vec<u8>>,
    stored_events: HashSet<Vec<u8>>,
    /// Conferences asked about ahead: `None` when there is no such conference (yet).
    conferences: HashMap<String, Option<Facts>>,
    /// Calls asked about ahead, and every leg of theirs, as it stands in this transaction.
    calls: HashSet<String>,
    legs: HashMap<LegKey, LegRow>,
    /// The legs that have a row: read ahead, or written by a flush since.
    stored_legs: HashSet<LegKey>,
    held_events: Vec<HeldEvent>,
    held_touches: Vec<MergedTouch>,
    touch_index: HashMap<String, usize>,
    /// Legs changed since the last flush, in the order they were first changed.
    held_legs: Vec<LegKey>,
    held_leg_set: HashSet<LegKey>,
    /// Waiting recordings to attach: the first conference named for each call since the
    /// last flush (a later one finds nothing left waiting, as one statement at a time would).
    held_links: Vec<(String, String)>,
    linked_calls: HashSet<String>,
}

/// Timestamps as the server keeps them (whole microseconds), so that comparisons made here
/// agree with the ones the server would make.
fn stored(at: Instant) -> Instant {
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}

fn least(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl WorkingSet {
    pub fn note_fresh_nonce(&mut self, nonce: String, body_hash: Vec<u8>) {
        self.fresh_nonces.insert((nonce, body_hash));
    }

    pub fn take_fresh_nonce(&mut self, nonce: &str, body_hash: &[u8]) -> bool {
        self.fresh_nonces
            .remove(&(nonce.to_owned(), body_hash.to_vec()))
    }

    /// What was read ahead: the asked event keys already stored, the asked conferences that
    /// exist with their facts, and every leg of the asked calls.
    pub fn learn(
        &mut self,
        ahead: &Ahead<'_>,
        stored_events: Vec<Vec<u8>>,
        conferences: Vec<(String, Facts)>,
        legs: Vec<(LegKey, LegRow)>,
    ) {
        self.asked_events.extend(ahead.event_keys.iter().cloned());
        self.stored_events.extend(stored_events);
        for uuid in &ahead.conferences {
            self.conferences.insert((*uuid).to_owned(), None);
        }
        for (uuid, facts) in conferences {
            self.conferences.insert(uuid, Some(facts));
        }
        self.calls
            .extend(ahead.calls.iter().map(|c| (*c).to_owned()));
        self.stored_legs
            .extend(legs.iter().map(|(key, _)| key.clone()));
        self.legs.extend(legs);
    }

    /// Whether the event is new, holding its insert back; `None` when it was not asked about.
    pub fn insert_event(&mut self, e: &NewEvent<'_>) -> Option<bool> {
        if !self.asked_events.contains(e.dedupe_key) {
            return None;
        }
        if !self.stored_events.insert(e.dedupe_key.to_vec()) {
            return Some(false);
        }
        self.held_events.push(HeldEvent {
            endpoint: e.endpoint,
            dedupe_key: e.dedupe_key.to_vec(),
            method: e.method.to_owned(),
            raw_body: e.raw_body.to_owned(),
            kind: e.kind.to_owned(),
            conference_uuid: e.conference_uuid.map(str::to_owned),
            call_uuid: e.call_uuid.map(str::to_owned),
            received_at: e.received_at,
        });
        Some(true)
    }

    /// Records activity on a conference asked about, holding the write back; `None` when it
    /// was not asked about.
    pub fn touch(&mut self, a: &ConferenceActivity<'_>, now: Instant) -> Option<Touched> {
        let facts = self.conferences.get_mut(a.conference_uuid)?;
        let facts = *facts.get_or_insert(Facts {
            ended: false,
            last_member_left: false,
        });
        let size = a.size.map(|s| i32::try_from(s).unwrap_or(i32::MAX));
        let name = a.name.filter(|n| !n.is_empty());
        let at = stored(a.at);
        match self.touch_index.get(a.conference_uuid) {
            Some(&i) => {
                let t = &mut self.held_touches[i];
                if t.name.is_none() {
                    t.name = name.map(str::to_owned);
                }
                t.started_at = t.started_at.min(at);
                t.peak_size = t.peak_size.max(size);
                t.updated_at = now;
            }
            None => {
                self.touch_index
                    .insert(a.conference_uuid.to_owned(), self.held_touches.len());
                self.held_touches.push(MergedTouch {
                    uuid: a.conference_uuid.to_owned(),
                    name: name.map(str::to_owned),
                    started_at: at,
                    peak_size: size,
                    created_at: now,
                    updated_at: now,
                });
            }
        }
        Some(Touched {
            ended: facts.ended,
            last_member_left: facts.last_member_left,
        })
    }

    /// The conference ended in this transaction.
    pub fn ended(&mut self, uuid: &str) {
        if let Some(Some(facts)) = self.conferences.get_mut(uuid) {
            facts.ended = true;
        }
    }

    /// An exit said this conference's room was empty.
    pub fn last_member_left(&mut self, uuid: &str) {
        if let Some(Some(facts)) = self.conferences.get_mut(uuid) {
            facts.last_member_left = true;
        }
    }

    /// The leg as it stands, to change, when its call was asked about.
    fn leg_mut(&mut self, leg: &Leg<'_>) -> Option<(&mut LegRow, bool)> {
        if !self.calls.contains(leg.call_uuid) {
            return None;
        }
        let key = (
            leg.conference_uuid.to_owned(),
            leg.call_uuid.to_owned(),
            leg.member_id.unwrap_or("").to_owned(),
        );
        if self.held_leg_set.insert(key.clone()) {
            self.held_legs.push(key.clone());
        }
        let existed = self.legs.contains_key(&key);
        Some((self.legs.entry(key).or_default(), existed))
    }

    /// A join, as `record_enter`'s upsert makes it; `false` when the leg was not asked about.
    pub fn enter(&mut self, leg: &Leg<'_>, caller: &Caller<'_>, at: Instant) -> bool {
        let Some((row, existed)) = self.leg_mut(leg) else {
            return false;
        };
        let at = stored(at);
        let fill = |kept: &mut Option<String>, given: Option<&str>| {
            if kept.is_none() {
                *kept = given.map(str::to_owned);
            }
        };
        fill(&mut row.from, caller.from);
        fill(&mut row.from_normalized, caller.from_normalized);
        fill(&mut row.to, caller.to);
        fill(&mut row.direction, caller.direction);
        row.joined_at = if existed {
            least(least(row.joined_at, Some(at)), row.left_at)
        } else {
            Some(at)
        };
        true
    }

    /// A leave, as `record_exit`'s upsert makes it; `false` when the leg was not asked about.
    pub fn exit(&mut self, leg: &Leg<'_>, at: Instant) -> bool {
        let Some((row, _)) = self.leg_mut(leg) else {
            return false;
        };
        let left = row.left_at.map_or(stored(at), |l| l.max(stored(at)));
        row.left_at = Some(left);
        row.joined_at = row.joined_at.map(|j| j.min(left));
        true
    }

    /// Recordings of `call` waiting for their conference get `conference`, at the next flush.
    pub fn link_waiting(&mut self, call: &str, conference: &str) {
        if self.linked_calls.insert(call.to_owned()) {
            self.held_links
                .push((call.to_owned(), conference.to_owned()));
        }
    }

    /// The held-back writes as statements, in the order tables depend on each other; the set
    /// is left empty of writes (what it knows stays). What [`Self::take_flush`] combines.
    #[cfg(test)]
    pub fn take_writes(&mut self) -> Vec<(&'static str, Vec<Owned>)> {
        self.take_held()
            .into_iter()
            .map(|(write, params)| (WRITES[write as usize], params))
            .collect()
    }

    /// The held-back writes as one statement, each a sub-statement of its `WITH`, in the
    /// order of [`Self::take_writes`]: a statement per table would cost the server a parse, a
    /// bind and an answer each. Sharing one snapshot is safe here: no write reads a table
    /// another one writes, and the foreign keys (legs and recordings on their conference)
    /// are checked as the statement ends, when a conference written beside them is there.
    pub fn take_flush(&mut self) -> Option<(&'static str, Vec<Owned>)> {
        let held = self.take_held();
        if held.is_empty() {
            return None;
        }
        let present = held.iter().map(|(write, _)| 1 << *write as usize).sum();
        let params = held.into_iter().flat_map(|(_, params)| params).collect();
        Some((merged(present), params))
    }

    fn take_held(&mut self) -> Vec<(Held, Vec<Owned>)> {
        let mut writes = Vec::new();
        let events = std::mem::take(&mut self.held_events);
        if !events.is_empty() {
            writes.push((Held::Events, event_columns(events)));
        }
        let touches = std::mem::take(&mut self.held_touches);
        self.touch_index.clear();
        if !touches.is_empty() {
            writes.push((Held::Conferences, touch_columns(touches)));
        }
        let legs = std::mem::take(&mut self.held_legs);
        self.held_leg_set.clear();
        let (stored, new): (Vec<_>, Vec<_>) = legs
            .into_iter()
            .map(|key| {
                let row = self.legs.get(&key).cloned().unwrap_or_default();
                (key, row)
            })
            .partition(|(key, _)| self.stored_legs.contains(key));
        self.stored_legs
            .extend(new.iter().map(|(key, _)| key.clone()));
        if !new.is_empty() {
            writes.push((Held::NewLegs, leg_columns(new)));
        }
        if !stored.is_empty() {
            writes.push((Held::Legs, leg_columns(stored)));
        }
        let links = std::mem::take(&mut self.held_links);
        self.linked_calls.clear();
        if !links.is_empty() {
            let (calls, conferences): (Vec<String>, Vec<String>) = links.into_iter().unzip();
            writes.push((Held::Links, vec![Box::new(calls), Box::new(conferences)]));
        }
        writes
    }
}

/// The kinds of held-back write, in the order tables depend on each other.
#[derive(Debug, Clone, Copy)]
enum Held {
    Events,
    Conferences,
    /// Legs without a row yet.
    NewLegs,
    Legs,
    Links,
}

/// Each kind's statement, by [`Held`].
const WRITES: [&str; 5] = [
    INSERT_EVENTS,
    UPSERT_CONFERENCES,
    INSERT_LEGS,
    UPSERT_LEGS,
    LINK_WAITING,
];

/// The statement writing the kinds whose bits `present` sets (bit `k` for `WRITES[k]`).
fn merged(present: usize) -> &'static str {
    static MERGED: OnceLock<Combined> = OnceLock::new();
    MERGED.get_or_init(|| Combined::of(&WRITES)).get(present)
}

/// Plain INSERT: a key stored meanwhile by another replica fails the batch (see the top).
const INSERT_EVENTS: &str = "INSERT INTO callback_events
         (endpoint, dedupe_key, method, raw_body, kind, conference_uuid, call_uuid, received_at)
     SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[],
                          $6::text[], $7::text[], $8::timestamptz[])";

/// `conferences::touch`, for many conferences at once (one row each).
const UPSERT_CONFERENCES: &str = "INSERT INTO conferences AS c
         (conference_uuid, name, status, started_at, peak_size, created_at, updated_at)
     SELECT u, COALESCE(n, ''), 'active', s, p, cr, up
     FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::integer[], $5::timestamptz[],
                 $6::timestamptz[]) AS t(u, n, s, p, cr, up)
     ON CONFLICT (conference_uuid) DO UPDATE SET
         name = CASE WHEN c.name = '' THEN excluded.name ELSE c.name END,
         started_at = LEAST(c.started_at, excluded.started_at),
         peak_size = GREATEST(c.peak_size, excluded.peak_size),
         updated_at = excluded.updated_at";

/// Legs that had no row when read ahead under the locks, nor since: a plain INSERT, as the
/// server's speculative insertion for `ON CONFLICT` costs a probe, a token and a confirming
/// log record per row. A row stored meanwhile without the call's lock fails the batch, which
/// is then replayed one callback at a time (see the top).
const INSERT_LEGS: &str = "INSERT INTO participants
         (conference_uuid, call_uuid, member_id, from_number, from_normalized, to_number,
          direction, joined_at, left_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[])";

/// Legs as this transaction has them: read ahead under the locks, so written whole.
const UPSERT_LEGS: &str = "INSERT INTO participants AS p
         (conference_uuid, call_uuid, member_id, from_number, from_normalized, to_number,
          direction, joined_at, left_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[])
     ON CONFLICT (conference_uuid, call_uuid, member_id) DO UPDATE SET
         from_number = excluded.from_number,
         from_normalized = excluded.from_normalized,
         to_number = excluded.to_number,
         direction = excluded.direction,
         joined_at = excluded.joined_at,
         left_at = excluded.left_at";

/// Waiting recordings of each call get its conference (one conference per call).
/// Looked up call by call (see `PgTx::read_ahead` on why lateral).
const LINK_WAITING: &str = "UPDATE recordings r SET conference_uuid = w.conference
     FROM (SELECT x.recording_id, t.conference
           FROM unnest($1::text[], $2::text[]) AS t(call, conference),
               LATERAL (SELECT recording_id FROM recordings
                        WHERE call_uuid = t.call AND conference_uuid IS NULL OFFSET 0) AS x) AS w
     WHERE r.recording_id = w.recording_id";

/// The column arrays of one `unnest` per write.
macro_rules! columns {
    ($rows:expr, $($field:ident),+) => {{
        $(let mut $field = Vec::new();)+
        for row in $rows {
            $($field.push(row.$field);)+
        }
        vec![$(Box::new($field) as Owned),+]
    }};
}

fn event_columns(events: Vec<HeldEvent>) -> Vec<Owned> {
    columns!(
        events,
        endpoint,
        dedupe_key,
        method,
        raw_body,
        kind,
        conference_uuid,
        call_uuid,
        received_at
    )
}

fn touch_columns(touches: Vec<MergedTouch>) -> Vec<Owned> {
    columns!(
        touches, uuid, name, started_at, peak_size, created_at, updated_at
    )
}

fn leg_columns(rows: Vec<(LegKey, LegRow)>) -> Vec<Owned> {
    let (keys, rows): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
    let mut conferences = Vec::with_capacity(keys.len());
    let mut calls = Vec::with_capacity(keys.len());
    let mut members = Vec::with_capacity(keys.len());
    for (conference, call, member) in keys {
        conferences.push(conference);
        calls.push(call);
        members.push(member);
    }
    let mut columns: Vec<Owned> = vec![Box::new(conferences), Box::new(calls), Box::new(members)];
    columns.extend(columns!(
        rows,
        from,
        from_normalized,
        to,
        direction,
        joined_at,
        left_at
    ));
    columns
}

#[cfg(test)]
#[path = "working_set_tests.rs"]
mod tests;
