//! Test harness: runs the real `confvault` binary on a random port with its own data
//! directory, and speaks HTTP to it.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use confvault::vobiz::signature::{Scheme, sign};

pub const AUTH_TOKEN: &str = "test-auth-token-not-secret";
pub const API_TOKEN: &str = "test-api-token";
pub const PUBLIC_URL: &str = "https://calls.example.test";

/// How long anything in a test may take before it counts as failed.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(name)
}

pub fn fixture_form(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("callbacks/{name}")))
        .unwrap()
        .trim()
        .to_owned()
}

/// One running confvault process and the directory it owns.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub base: String,
    child: Child,
    extra_config: String,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts with signatures on, an API token, and `extra` appended to the settings file.
    pub fn start(extra: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra)
    }

    fn start_in(dir: tempfile::TempDir, extra: &str) -> Server {
        let config = format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{data}\"\npublic_url = \"{PUBLIC_URL}\"\n{extra}\n",
            data = dir.path().join("data").display(),
        );
        let config = with_defaults(&config);
        std::fs::write(dir.path().join("confvault.toml"), &config).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("confvault.log"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_confvault"))
            .arg("--config")
            .arg(dir.path().join("confvault.toml"))
            .arg("serve")
            .env_remove("RUST_LOG")
            .env("RUST_LOG", "info,confvault=debug")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(DEADLINE) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; log:\n{}",
                    std::fs::read_to_string(dir.path().join("confvault.log")).unwrap_or_default()
                );
            }
        };
        Server {
            dir,
            base,
            child,
            extra_config: extra.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Kills the process without warning (SIGKILL) and starts a new one on the same data.
    pub fn crash_and_restart(mut self) -> Server {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let extra = std::mem::take(&mut self.extra_config);
        let dir = self.take_dir();
        Self::start_in(dir, &extra)
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("confvault.log")).unwrap_or_default()
    }

    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("data/confvault.db")).unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.database()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// POSTs a form body signed as Vobiz signs (V3, fresh nonce).
    pub async fn post_signed(&self, path: &str, body: &str) -> reqwest::Response {
        let nonce = fresh_nonce();
        self.post_signed_with_nonce(path, body, &nonce).await
    }

    pub async fn post_signed_with_nonce(
        &self,
        path: &str,
        body: &str,
        nonce: &str,
    ) -> reqwest::Response {
        let signature = sign(
            AUTH_TOKEN,
            &format!("{PUBLIC_URL}{path}"),
            nonce,
            Scheme::V3,
        );
        self.client
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("User-Agent", "Vobiz")
            .header("X-Vobiz-Signature-V3", signature)
            .header("X-Vobiz-Signature-V3-Nonce", nonce)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    pub async fn get_api(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn conference(&self, uuid: &str) -> serde_json::Value {
        let response = self.get_api(&format!("/api/v1/conferences/{uuid}")).await;
        assert_eq!(response.status(), 200, "conference {uuid}");
        response.json().await.unwrap()
    }

    /// Polls `check` until it returns `Some`, failing after [`DEADLINE`].
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "timed out waiting for {what}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_defaults(config: &str) -> String {
    let mut config = config.to_owned();
    let token_line = format!("auth_token = \"{AUTH_TOKEN}\"\n");
    if !config.contains("[vobiz]") {
        config.push_str(&format!("[vobiz]\n{token_line}"));
    } else if !config.contains("auth_token") && !config.contains("verify_signatures") {
        config = config.replace("[vobiz]\n", &format!("[vobiz]\n{token_line}"));
    }
    if !config.contains("[api]") {
        config.push_str(&format!("[api]\ntokens = [\"{API_TOKEN}\"]\n"));
    }
    config
}

pub fn fresh_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}{:06}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
