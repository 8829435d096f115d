//! A conference's people: its call legs merged per person (legs from the same number, in any
//! spelling, are one person who rejoined), named from the mail directory. The summary email and
//! the web page both show people from here, so they count and name them alike.

use crate::db::model::Participant;
use crate::mail::recipients::Directory;
use crate::time::Instant;
use crate::vobiz::phone;

/// One leg of a person's time on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay {
    pub call_uuid: String,
    pub joined: Option<Instant>,
    /// When the leg left, else when the conference ended (a leg still in an ended call).
    pub left: Option<Instant>,
}

impl Stay {
    pub fn seconds(&self) -> i64 {
        match (self.joined, self.left) {
            (Some(j), Some(l)) if l > j => (l - j).num_seconds(),
            _ => 0,
        }
    }
}

/// Everyone who called in from one number.
#[derive(Debug, Clone)]
pub struct Person {
    /// From the mail directory, where it knows the number.
    pub name: Option<String>,
    /// As Vobiz sent it on the first leg; "unknown" when no leg said.
    pub number: String,
    /// Their legs, in order of joining.
    pub stays: Vec<Stay>,
    key: String,
}

impl Person {
    pub fn first_join(&self) -> Option<Instant> {
        self.stays.iter().filter_map(|s| s.joined).min()
    }

    pub fn last_leave(&self) -> Option<Instant> {
        self.stays.iter().filter_map(|s| s.left).max()
    }

    pub fn seconds(&self) -> i64 {
        self.stays.iter().map(Stay::seconds).sum()
    }

    pub fn rejoins(&self) -> usize {
        self.stays.len().saturating_sub(1)
    }

    /// The name where known, else the number.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.number)
    }
}

/// The people of a conference that ended at `end` (`None`: still going), in order of first
/// join. A leg with no number is a person of its own: two anonymous callers are two people.
pub fn people(legs: &[Participant], end: Option<Instant>, directory: &Directory) -> Vec<Person> {
    let mut people: Vec<Person> = Vec::new();
    for leg in legs {
        let key = match &leg.from {
            Some(number) => phone::normalize(number),
            None => format!("call:{}", leg.call_uuid),
        };
        let stay = Stay {
            call_uuid: leg.call_uuid.clone(),
            joined: leg.joined_at,
            left: leg.left_at.or(end),
        };
        match people.iter_mut().find(|p| p.key == key) {
            Some(p) => p.stays.push(stay),
            None => {
                let number = leg.from.clone().unwrap_or_else(|| "unknown".to_owned());
                people.push(Person {
                    name: directory.name_of(&number).map(str::to_owned),
                    number,
                    stays: vec![stay],
                    key,
                });
            }
        }
    }
    for person in &mut people {
        person.stays.sort_by_key(|s| s.joined);
    }
    people.sort_by_key(Person::first_join);
    people
}

/// Most legs in the room at once.
pub fn peak(legs: &[Participant], end: Option<Instant>) -> usize {
    let mut edges: Vec<(Instant, i32)> = Vec::new();
    for leg in legs {
        if let Some(j) = leg.joined_at {
            edges.push((j, 1));
            if let Some(l) = leg.left_at.or(end) {
                edges.push((l, -1));
            }
        }
    }
    // Leaves before joins at the same instant: a hand-over is not an overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most.max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DirectoryEntry;

    fn leg(call: &str, from: Option<&str>, joined: &str, left: Option<&str>) -> Participant {
        let at = |t: &str| {
            Some(
                format!("2026-05-19T{t}Z")
                    .parse::<Instant>()
                    .expect("a test time"),
            )
        };
        Participant {
            call_uuid: call.to_owned(),
            member_id: None,
            from: from.map(str::to_owned),
            to: None,
            direction: None,
            joined_at: at(joined),
            left_at: left.and_then(at),
        }
    }

    #[test]
    fn legs_from_one_number_in_any_spelling_are_one_person_who_rejoined() {
        let directory = Directory::load(
            &[DirectoryEntry {
                number: "+91 80713 87423".into(),
                name: "Asha Rao".into(),
                email: None,
            }],
            None,
        )
        .expect("a directory");
        let legs = [
            leg("a1", Some("918071387423"), "10:00:00", Some("10:10:00")),
            leg("b1", Some("919624705678"), "10:01:00", Some("10:30:00")),
            leg("a2", Some("+918071387423"), "10:15:00", None),
            leg("c1", None, "10:02:00", Some("10:03:00")),
            leg("d1", None, "10:04:00", Some("10:05:00")),
        ];
        let end = Some("2026-05-19T10:30:00Z".parse().expect("a time"));

        let people = people(&legs, end, &directory);

        let labels: Vec<&str> = people.iter().map(Person::label).collect();
        assert_eq!(
            labels,
            ["Asha Rao", "919624705678", "unknown", "unknown"],
            "in order of first join; anonymous legs stay apart"
        );
        let asha = &people[0];
        assert_eq!(asha.rejoins(), 1);
        assert_eq!(
            asha.seconds(),
            10 * 60 + 15 * 60,
            "the open leg ends with the call"
        );
        assert_eq!(asha.last_leave(), end);
        assert_eq!(peak(&legs, end), 3);
    }
}
