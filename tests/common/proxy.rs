//! A TCP proxy in front of a test server: it can refuse connections (the server is "down") and
//! throttle what clients send, and counts S3 UploadPart requests and chosen header lines passing
//! through.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone)]
pub struct Proxy {
    pub origin: String,
    down: Arc<AtomicBool>,
    /// Bytes per second from clients to the server; 0 means unlimited.
    rate: Arc<AtomicU64>,
    parts: Arc<AtomicUsize>,
    /// Header lines (lowercase `name: value`) counted as requests pass; see [`Proxy::watch`].
    watched: Arc<Mutex<Vec<(String, usize)>>>,
    /// Requests carrying a watched line that the server answered 2xx, per watched line.
    completed: Arc<Mutex<Vec<usize>>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`) on its own thread and runtime, so that it keeps
    /// running whatever the test's runtime does.
    pub fn start(upstream: &str) -> Proxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let proxy = Proxy {
            origin: format!("http://{}", std_listener.local_addr().unwrap()),
            down: Arc::default(),
            rate: Arc::default(),
            parts: Arc::default(),
            watched: Arc::default(),
            completed: Arc::default(),
        };
        let handle = proxy.clone();
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if handle.down.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let handle = handle.clone();
                    let upstream = upstream.clone();
                    tokio::spawn(async move { handle.relay(client, &upstream).await });
                }
            });
        });
        proxy
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn set_rate(&self, bytes_per_second: u64) {
        self.rate.store(bytes_per_second, Ordering::SeqCst);
    }

    /// Counts, from now on, the requests carrying the header line `line` (`name: value`).
    pub fn watch(&self, line: &str) {
        assert!(
            line.len() + 4 > TAIL,
            "a watched line must be longer than the tail"
        );
        self.watched
            .lock()
            .unwrap()
            .push((format!("\r\n{}\r\n", line.to_lowercase()), 0));
        self.completed.lock().unwrap().push(0);
    }

    /// How many requests carrying a watched line the server answered with a 2xx: uploads that
    /// completed, not ones cut off by a crash.
    pub fn completed(&self, line: &str) -> usize {
        let needle = format!("\r\n{}\r\n", line.to_lowercase());
        let index = self
            .watched
            .lock()
            .unwrap()
            .iter()
            .position(|(watched, _)| *watched == needle);
        index.map_or(0, |i| self.completed.lock().unwrap()[i])
    }

    /// How many requests carried a watched header line.
    pub fn seen(&self, line: &str) -> usize {
        let needle = format!("\r\n{}\r\n", line.to_lowercase());
        self.watched
            .lock()
            .unwrap()
            .iter()
            .find(|(watched, _)| *watched == needle)
            .map_or(0, |(_, n)| *n)
    }

    /// UploadPart requests seen since the last call.
    pub fn take_part_count(&self) -> usize {
        self.parts.swap(0, Ordering::SeqCst)
    }

    async fn relay(&self, client: TcpStream, upstream: &str) {
        let Ok(server) = TcpStream::connect(upstream).await else {
            return;
        };
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let this = self.clone();
        // Which watched line each request still waiting for its answer carried (HTTP/1.1 over
        // one connection answers in order).
        let awaiting: Arc<Mutex<std::collections::VecDeque<Option<usize>>>> = Arc::default();
        let asked = Arc::clone(&awaiting);
        let upward = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut tail = Vec::new();
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                this.parts
                    .fetch_add(count(chunk, b"partNumber="), Ordering::SeqCst);
                // Scanned with the end of the previous read, so that a line cut in two by
                // the reads still counts; the tail is shorter than any line, so nothing counts
                // twice.
                let retained = tail.len();
                tail.extend(chunk.to_ascii_lowercase());
                for (line, seen) in this.watched.lock().unwrap().iter_mut() {
                    *seen += count(&tail, line.as_bytes());
                }
                // Each request line marks a request; a watched line after it marks that
                // request as one to follow to its answer. Only matches reaching past what was
                // kept from the last read are new.
                {
                    let watched = this.watched.lock().unwrap();
                    let new = |needle: &[u8]| {
                        positions(&tail, needle)
                            .into_iter()
                            .filter(|p| p + needle.len() > retained)
                            .collect::<Vec<_>>()
                    };
                    let mut events: Vec<(usize, Option<usize>)> = new(b" http/1.1\r\n")
                        .into_iter()
                        .map(|p| (p, None))
                        .collect();
                    for (i, (line, _)) in watched.iter().enumerate() {
                        events.extend(new(line.as_bytes()).into_iter().map(|p| (p, Some(i))));
                    }
                    events.sort();
                    let mut queue = asked.lock().unwrap();
                    for (_, event) in events {
                        match event {
                            None => queue.push_back(None),
                            Some(i) => {
                                if let Some(last) = queue.back_mut() {
                                    *last = Some(i);
                                }
                            }
                        }
                    }
                }
                tail.drain(..tail.len().saturating_sub(TAIL));
                if this.down.load(Ordering::SeqCst) || server_write.write_all(chunk).await.is_err()
                {
                    break;
                }
                let rate = this.rate.load(Ordering::SeqCst);
                if rate > 0 {
                    tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                }
            }
            let _ = server_write.shutdown().await;
        });
        // Down cuts open connections too, as a server that goes away would.
        let cut = async {
            while !self.down.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let downward = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = match server_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if client_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                // Status lines (not 1xx) settle the oldest watched request still waiting.
                tail.extend_from_slice(&buf[..n]);
                let mut at = 0;
                while let Some(found) = find(&tail[at..], b"HTTP/1.1 ") {
                    let start = at + found + 9;
                    if tail.len() < start + 3 {
                        break;
                    }
                    let code = &tail[start..start + 3];
                    if code[0] != b'1' {
                        let waiting = awaiting.lock().unwrap().pop_front();
                        if let Some(Some(i)) = waiting
                            && code[0] == b'2'
                        {
                            this.completed.lock().unwrap()[i] += 1;
                        }
                    }
                    at = start + 3;
                }
                tail.drain(..at.max(tail.len().saturating_sub(12)));
            }
        };
        tokio::select! {
            _ = downward => {}
            _ = cut => {}
        }
        upward.abort();
    }
}

/// Bytes kept from one read to the next for [`Proxy::watch`]: shorter than any watched line.
const TAIL: usize = 16;

/// Where `needle` starts in `haystack`, each time.
fn positions(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
