//! Documented-shape conference callbacks for tests, built field by field: every test that ends
//! a conference (or lets someone in or out) builds its bodies here.

/// One callback body under construction. Fields keep their order; `set` replaces a field.
#[derive(Debug, Clone)]
pub struct Callback {
    fields: Vec<(&'static str, String)>,
}

/// The room most tests use.
pub const ROOM: &str = "Weekly Standup";
/// The day of every test conference unless a test says otherwise.
pub const DAY: &str = "2026-05-19";

fn base(action: &str, conference: &str, call: &str, time: &str) -> Callback {
    Callback {
        fields: vec![
            ("ConferenceAction", action.to_owned()),
            ("ConferenceUUID", conference.to_owned()),
            ("ConferenceName", ROOM.to_owned()),
            ("CallUUID", call.to_owned()),
        ],
    }
    .at(time)
}

/// `call` joins `conference` at 10:32:15, from 918071387423.
pub fn enter(conference: &str, call: &str) -> Callback {
    base("enter", conference, call, "10:32:15")
        .set("From", "918071387423")
        .set("To", "919624705678")
}

/// `call` leaves `conference` at 10:50:00.
pub fn exit(conference: &str, call: &str) -> Callback {
    base("exit", conference, call, "10:50:00")
}

/// `conference` ends at 10:58:47, with no recording unless [`Callback::recording`] adds one.
pub fn end(conference: &str) -> Callback {
    base("end", conference, "c1", "10:58:47").set("ConferenceCurrentSize", "0")
}

impl Callback {
    /// Sets `key` to `value`, replacing it if present.
    pub fn set(mut self, key: &'static str, value: &str) -> Self {
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.fields.push((key, value.to_owned())),
        }
        self
    }

    pub fn name(self, name: &str) -> Self {
        self.set("ConferenceName", name)
    }

    pub fn from(self, number: &str) -> Self {
        self.set("From", number)
    }

    pub fn recording(self, url: &str) -> Self {
        self.set("RecordingUrl", url)
    }

    /// At `time` (HH:MM:SS) of [`DAY`].
    pub fn at(self, time: &str) -> Self {
        self.at_on(DAY, time)
    }

    /// At `time` (HH:MM:SS) of `day` (YYYY-MM-DD).
    pub fn at_on(self, day: &str, time: &str) -> Self {
        self.set("Timestamp", &format!("{day} {time}"))
    }

    /// The form-encoded body.
    pub fn body(&self) -> String {
        serde_urlencoded::to_string(&self.fields).expect("form fields encode")
    }
}

impl From<Callback> for String {
    fn from(callback: Callback) -> String {
        callback.body()
    }
}

/// Anything that can be posted as a callback body.
pub trait Body {
    fn body(&self) -> String;
}

impl Body for Callback {
    fn body(&self) -> String {
        Callback::body(self)
    }
}

impl Body for String {
    fn body(&self) -> String {
        self.clone()
    }
}

impl Body for &str {
    fn body(&self) -> String {
        (*self).to_owned()
    }
}

impl Body for &String {
    fn body(&self) -> String {
        (*self).clone()
    }
}
