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
                tail.extend(chunk.to_ascii_lowercase());
                for (line, seen) in this.watched.lock().unwrap().iter_mut() {
                    *seen += count(&tail, line.as_bytes());
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
        tokio::select! {
            _ = tokio::io::copy(&mut server_read, &mut client_write) => {}
            _ = cut => {}
        }
        upward.abort();
    }
}

/// Bytes kept from one read to the next for [`Proxy::watch`]: shorter than any watched line.
const TAIL: usize = 16;

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
