//! A webhook receiver for tests: takes POSTs over plain HTTP/1.1, records each (headers, body,
//! when it arrived) and answers as scripted per path: a status, or no answer at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// Reads the request and never answers (until the client hangs up).
    Hang,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: SystemTime,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// How this message departs from the schema the OpenAPI document publishes for its type
    /// (none when it conforms).
    pub fn schema_errors(&self, openapi: &serde_json::Value) -> Vec<String> {
        let message = self.json();
        let event = message["type"].as_str().unwrap_or_default().to_owned();
        schema_errors(openapi, &event, &message)
            .into_iter()
            .map(|e| format!("{event}: {e}\n{}", self.body))
            .collect()
    }

    /// The headers as the `http` crate holds them, for verifying libraries.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in &self.headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }
}

#[derive(Default)]
struct State {
    /// Replies per path, used in order; the last one repeats. 200 when none.
    scripts: HashMap<String, Vec<Reply>>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub origin: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            origin: format!("http://{}", listener.local_addr().unwrap()),
            state: Arc::default(),
        };
        let handle = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let handle = handle.clone();
                tokio::spawn(async move { handle.serve(socket).await });
            }
        });
        receiver
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_owned(), replies);
    }

    /// Everything received at `path`, in order of arrival.
    pub fn received(&self, path: &str) -> Vec<Received> {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    async fn serve(&self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut reader = BufReader::new(read);
        loop {
            let Some((path, headers)) = super::media::read_head(&mut reader).await else {
                return;
            };
            let length: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            let reply = {
                let mut state = self.state.lock().unwrap();
                state.received.push(Received {
                    path: path.clone(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    at: SystemTime::now(),
                });
                match state.scripts.get_mut(&path) {
                    Some(replies) if replies.len() > 1 => replies.remove(0),
                    Some(replies) if !replies.is_empty() => replies[0].clone(),
                    _ => Reply::Status(200),
                }
            };
            match reply {
                Reply::Status(code) => {
                    let head = format!("HTTP/1.1 {code} Scripted\r\ncontent-length: 0\r\n\r\n");
                    if write.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Reply::Hang => {
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest).await;
                    return;
                }
            }
        }
    }
}

/// How `message` departs from the published schema of `event`'s message. The schema is made
/// standalone: the document's components become `$defs`. An unknown event has no schema, which
/// is itself an error.
pub fn schema_errors(
    openapi: &serde_json::Value,
    event: &str,
    message: &serde_json::Value,
) -> Vec<String> {
    let schema =
        &openapi["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return vec![format!("no schema is published for {event:?}")];
    }
    let text = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": openapi["components"]["schemas"],
        "allOf": [schema],
    })
    .to_string()
    .replace("#/components/schemas/", "#/$defs/");
    let validator = jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap();
    validator
        .iter_errors(message)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}
