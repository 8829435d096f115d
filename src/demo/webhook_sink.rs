//! The demo's stand-in for a system that takes confvault's webhooks: a loopback endpoint that
//! checks each message's Standard Webhooks signature and timestamp, answers 204 to a good one
//! and 401 to any other, and keeps what it took so the demo can say what arrived.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use subtle::ConstantTimeEq;

use crate::webhooks::signing::SigningKey;

/// How far a message's timestamp may be from now, as the Standard Webhooks libraries allow.
const TOLERANCE_SECONDS: i64 = 300;

/// What the sink took: each good message's type and the recording it names, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    pub event_type: String,
    pub recording_id: Option<String>,
}

#[derive(Default)]
struct Log {
    taken: Vec<Taken>,
    refused: usize,
}

pub struct WebhookSink {
    pub url: String,
    log: Arc<Mutex<Log>>,
    handle: actix_web::dev::ServerHandle,
}

impl WebhookSink {
    /// Takes messages signed with `secret` at `<url>` until [`WebhookSink::stop`].
    pub fn start(secret: &str) -> anyhow::Result<Self> {
        let key = SigningKey::parse(secret)
            .map_err(|e| anyhow::anyhow!("the demo's webhook secret {e}"))?;
        let listener =
            TcpListener::bind("127.0.0.1:0").context("binding the demo webhook receiver")?;
        let url = format!("http://{}/hooks/confvault", listener.local_addr()?);
        let log = Arc::new(Mutex::new(Log::default()));
        let state = web::Data::new((key, Arc::clone(&log)));
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .route("/hooks/confvault", web::post().to(take))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { url, log, handle })
    }

    /// The good messages so far, oldest first.
    pub fn taken(&self) -> Vec<Taken> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .taken
            .clone()
    }

    /// How many requests were refused (a bad signature or timestamp, or not a message).
    pub fn refused(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refused
    }

    /// Until a `recording.archived` has been taken for each of `recordings`, a
    /// `recording.transcribed` for each of `transcribed`, and a `conference.ended` and a
    /// `summary.sent` for each of `conferences`, all signed right; an error if one was refused
    /// or `patience` runs out.
    pub async fn wait_for(
        &self,
        (recordings, transcribed): (&[&str], &[&str]),
        conferences: usize,
        patience: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let taken = self.taken();
            let of_type = |kind: &str| taken.iter().filter(|t| t.event_type == kind).count();
            let all_of = |kind: &str, ids: &[&str]| {
                ids.iter().all(|id| {
                    taken
                        .iter()
                        .any(|t| t.event_type == kind && t.recording_id.as_deref() == Some(id))
                })
            };
            if all_of("recording.archived", recordings)
                && all_of("recording.transcribed", transcribed)
                && of_type("conference.ended") >= conferences
                && of_type("summary.sent") >= conferences
            {
                return Ok(());
            }
            anyhow::ensure!(
                self.refused() == 0,
                "the demo's webhook receiver refused a message: its signature did not check"
            );
            anyhow::ensure!(
                started.elapsed() < patience,
                "the demo's webhooks did not arrive within {patience:?}; see the log above"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// How many messages of each type the sink took, as the demo prints them.
pub fn counts(taken: &[Taken]) -> String {
    let mut by_type = BTreeMap::<&str, usize>::new();
    for t in taken {
        *by_type.entry(&t.event_type).or_default() += 1;
    }
    by_type
        .iter()
        .map(|(kind, n)| format!("{kind} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn take(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<(SigningKey, Arc<Mutex<Log>>)>,
) -> HttpResponse {
    let (key, log) = state.get_ref();
    let verdict = verify(key, &req, &body, chrono::Utc::now().timestamp());
    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
    match verdict {
        Some(taken) => {
            log.taken.push(taken);
            HttpResponse::NoContent().finish()
        }
        None => {
            log.refused += 1;
            HttpResponse::Unauthorized().finish()
        }
    }
}

/// The message, if its signature matches one of the header's and its timestamp is recent.
fn verify(key: &SigningKey, req: &HttpRequest, body: &[u8], now: i64) -> Option<Taken> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?.parse().ok()?;
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return None;
    }
    let expected = key.sign(id, timestamp, body);
    let signed = header("webhook-signature")?
        .split(' ')
        .any(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())));
    if !signed {
        return None;
    }
    let message: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(Taken {
        event_type: message["type"].as_str()?.to_owned(),
        recording_id: message["data"]["recording"]["recording_id"]
            .as_str()
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::webhooks::signing::new_secret;

    const BODY: &[u8] =
        br#"{"type":"recording.archived","data":{"recording":{"recording_id":"r1"}}}"#;

    fn signed(key: &SigningKey, at: i64, signature: Option<String>) -> HttpRequest {
        TestRequest::post()
            .insert_header(("webhook-id", "msg_1"))
            .insert_header(("webhook-timestamp", at.to_string()))
            .insert_header((
                "webhook-signature",
                signature.unwrap_or_else(|| key.sign("msg_1", at, BODY)),
            ))
            .to_http_request()
    }

    #[test]
    fn a_message_signed_with_the_secret_is_taken_and_anything_else_refused() {
        let key = SigningKey::parse(&new_secret()).unwrap();
        let other = SigningKey::parse(&new_secret()).unwrap();
        let now = 1_780_000_000;

        let good = verify(&key, &signed(&key, now, None), BODY, now);
        let rotated = format!(
            "{} {}",
            other.sign("msg_1", now, BODY),
            key.sign("msg_1", now, BODY)
        );
        let during_rotation = verify(&key, &signed(&key, now, Some(rotated)), BODY, now);
        let wrong_key = verify(&key, &signed(&other, now, None), BODY, now);
        let stale = verify(&key, &signed(&key, now - 301, None), BODY, now);
        let tampered = verify(&key, &signed(&key, now, None), b"{}", now);

        assert_eq!(
            good,
            Some(Taken {
                event_type: "recording.archived".into(),
                recording_id: Some("r1".into()),
            })
        );
        assert_eq!(during_rotation, good);
        assert_eq!((wrong_key, stale, tampered), (None, None, None));
    }

    #[test]
    fn the_counts_name_each_type_once() {
        let of = |kind: &str| Taken {
            event_type: kind.into(),
            recording_id: None,
        };
        let taken = [
            of("summary.sent"),
            of("conference.ended"),
            of("summary.sent"),
        ];
        assert_eq!(counts(&taken), "conference.ended ×1, summary.sent ×2");
    }
}
