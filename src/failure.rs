//! A failure's description with the error that caused it kept as its source, for the error
//! types that sort failures into "try again" and "give up" (downloads, storage).

use std::error::Error;

type Source = Box<dyn Error + Send + Sync + 'static>;

/// What went wrong, in words, and (when another error caused it) that error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    message: String,
    #[source]
    source: Option<Source>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// `message`, caused by `source`.
    pub fn caused_by(message: impl Into<String>, source: impl Into<Source>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The message and every cause after it, as a job's `last_error` records it.
    pub fn chain(&self) -> String {
        let mut text = self.message.clone();
        let mut cause = self.source.as_deref().map(|e| e as &(dyn Error + 'static));
        while let Some(e) = cause {
            let next = e.to_string();
            // Some errors repeat their source in their own message; say it once.
            if !text.ends_with(&next) {
                text.push_str(": ");
                text.push_str(&next);
            }
            cause = e.source();
        }
        text
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_the_failure_then_each_cause() {
        let io = std::io::Error::other("disk full");
        let failure = Failure::caused_by("writing /spool/r.mp3", io);

        assert_eq!(failure.to_string(), "writing /spool/r.mp3");
        assert_eq!(failure.chain(), "writing /spool/r.mp3: disk full");
        assert!(
            failure.source().is_some(),
            "the cause is kept, not just its text"
        );
        assert_eq!(Failure::new("no ETag").chain(), "no ETag");
    }
}
