//! A media host for tests: serves scripted answers per path over plain HTTP/1.1, demands the
//! Vobiz auth headers where told to, and records every request it gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub const AUTH_ID: &str = "MA_TEST_ACCOUNT";

/// One scripted answer.
#[derive(Clone)]
pub enum Answer {
    Status(u16),
    Body {
        content_type: &'static str,
        bytes: Arc<Vec<u8>>,
    },
    Redirect(String),
    /// Declares `declared` bytes but sends only `bytes`, then closes.
    Truncated {
        declared: usize,
        bytes: Arc<Vec<u8>>,
    },
    /// Declares `declared` bytes, sends `bytes`, then sends nothing more while the client
    /// stays connected: a download that is still running.
    Stall {
        declared: usize,
        bytes: Arc<Vec<u8>>,
    },
}

impl Answer {
    pub fn file(content_type: &'static str, bytes: Vec<u8>) -> Answer {
        Answer::Body {
            content_type,
            bytes: Arc::new(bytes),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    /// Answers per path, used in order; the last one repeats.
    scripts: HashMap<String, Vec<Answer>>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct MediaServer {
    pub origin: String,
    state: Arc<Mutex<State>>,
    require_auth: Option<String>,
}

impl MediaServer {
    /// Starts a host that answers 401 to requests without `X-Auth-ID`/`X-Auth-Token` = `token`
    /// (when given).
    pub async fn start(require_auth_token: Option<&str>) -> MediaServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let server = MediaServer {
            origin,
            state: Arc::default(),
            require_auth: require_auth_token.map(str::to_owned),
        };
        let handle = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let handle = handle.clone();
                tokio::spawn(async move { handle.serve(socket).await });
            }
        });
        server
    }

    /// A host serving the standup fixture (MP3) at `path`, with the Vobiz auth headers.
    pub async fn with_recording(path: &str) -> MediaServer {
        let media = MediaServer::start(Some(super::AUTH_TOKEN)).await;
        let mp3 = std::fs::read(super::fixture("standup.mp3")).unwrap();
        media.script(path, vec![Answer::file("audio/mpeg", mp3)]);
        media
    }

    /// The `[vobiz]` settings that let confvault download from this host.
    pub fn vobiz_settings(&self) -> String {
        format!(
            "[vobiz]\nauth_token = \"{}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n",
            super::AUTH_TOKEN,
            self.origin
        )
    }

    pub fn script(&self, path: &str, answers: Vec<Answer>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_owned(), answers);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    async fn serve(&self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut reader = BufReader::new(read);
        loop {
            let Some((path, headers)) = read_head(&mut reader).await else {
                return;
            };
            let authorised = match &self.require_auth {
                None => true,
                Some(token) => {
                    headers.get("x-auth-id").map(String::as_str) == Some(AUTH_ID)
                        && headers.get("x-auth-token") == Some(token)
                }
            };
            let answer = {
                let mut state = self.state.lock().unwrap();
                state.seen.push(Seen {
                    path: path.clone(),
                    headers,
                });
                let script = state.scripts.get_mut(&path);
                match script {
                    _ if !authorised => Answer::Status(401),
                    Some(answers) if answers.len() > 1 => answers.remove(0),
                    Some(answers) if !answers.is_empty() => answers[0].clone(),
                    _ => Answer::Status(404),
                }
            };
            let keep_open = match answer {
                Answer::Status(code) => {
                    let head = format!("HTTP/1.1 {code} Scripted\r\ncontent-length: 0\r\n\r\n");
                    write.write_all(head.as_bytes()).await.is_ok()
                }
                Answer::Redirect(location) => {
                    let head = format!(
                        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                    );
                    write.write_all(head.as_bytes()).await.is_ok()
                }
                Answer::Body {
                    content_type,
                    bytes,
                } => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                        bytes.len()
                    );
                    write.write_all(head.as_bytes()).await.is_ok()
                        && write.write_all(&bytes).await.is_ok()
                }
                Answer::Truncated { declared, bytes } => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: {declared}\r\n\r\n"
                    );
                    let _ = write.write_all(head.as_bytes()).await;
                    let _ = write.write_all(&bytes).await;
                    false
                }
                Answer::Stall { declared, bytes } => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: {declared}\r\n\r\n"
                    );
                    let _ = write.write_all(head.as_bytes()).await;
                    let _ = write.write_all(&bytes).await;
                    // Returns once the client hangs up.
                    let mut rest = Vec::new();
                    let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut rest).await;
                    false
                }
            };
            if !keep_open {
                let _ = write.shutdown().await;
                return;
            }
        }
    }
}

/// The path and (lower-cased) headers of the next HTTP/1.1 request; `None` once the client
/// hangs up.
pub async fn read_head<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Option<(String, HashMap<String, String>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return None;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some((path, headers));
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
}
