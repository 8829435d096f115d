//! The real `confvault` binary on a random port with its own data directory, and HTTP to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use confvault::vobiz::signature::{Scheme, sign};

use super::callbacks::Body;
use super::database::TestDatabase;
use super::{API_TOKEN, AUTH_TOKEN, DEADLINE, PUBLIC_URL};

/// One running confvault process and the directory it owns.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub base: String,
    child: Child,
    extra_config: String,
    env: Vec<(String, String)>,
    pub client: reqwest::Client,
    /// Its database, SQLite or PostgreSQL (see `CV_TEST_DATABASE`); kept across restarts.
    pub db: TestDatabase,
    /// The address it listens on: a free port by default, or one fixed for a load balancer.
    listen: String,
}

impl Server {
    /// Starts with signatures on, an API token, and `extra` appended to the settings file.
    pub fn start(extra: &str) -> Server {
        Self::start_with_env(extra, Vec::new())
    }

    /// Like [`Server::start`], with extra environment variables for the process.
    pub fn start_with_env(extra: &str, env: Vec<(String, String)>) -> Server {
        Self::start_listening_on("127.0.0.1:0", extra, env)
    }

    /// Like [`Server::start_with_env`], on a fixed address (kept across restarts).
    pub fn start_listening_on(listen: &str, extra: &str, env: Vec<(String, String)>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::named_in(extra)
            .unwrap_or_else(|| TestDatabase::for_run(&dir.path().join("data")));
        Self::start_in(dir, db, listen, extra, env)
    }

    fn start_in(
        dir: tempfile::TempDir,
        db: TestDatabase,
        listen: &str,
        extra: &str,
        env: Vec<(String, String)>,
    ) -> Server {
        let config = format!(
            "listen = \"{listen}\"\ndata_dir = \"{data}\"\npublic_url = \"{PUBLIC_URL}\"\n{extra}\n{database}",
            data = dir.path().join("data").display(),
            database = if extra.contains("[database]") {
                String::new()
            } else {
                db.settings()
            },
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
            .envs(env.iter().map(|(k, v)| (k, v)))
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
            env,
            client: reqwest::Client::new(),
            db,
            listen: listen.to_owned(),
        }
    }

    /// Kills the process without warning (SIGKILL) and starts a new one on the same data.
    pub fn crash_and_restart(mut self) -> Server {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let extra = std::mem::take(&mut self.extra_config);
        let env = std::mem::take(&mut self.env);
        let (db, listen) = (self.db.clone(), self.listen.clone());
        let dir = self.take_dir();
        Self::start_in(dir, db, &listen, &extra, env)
    }

    /// Like [`Server::crash_and_restart`], with the settings' extra part replaced by `extra`.
    pub fn crash_and_restart_with(mut self, extra: &str) -> Server {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let env = std::mem::take(&mut self.env);
        let (db, listen) = (self.db.clone(), self.listen.clone());
        let dir = self.take_dir();
        Self::start_in(dir, db, &listen, extra, env)
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the process to exit; returns whether it
    /// exited 0.
    pub fn signal(&mut self, signal: &str) -> bool {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "still running after SIG{signal}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same settings and data, after [`Server::signal`].
    pub fn restart(mut self) -> Server {
        let extra = std::mem::take(&mut self.extra_config);
        let env = std::mem::take(&mut self.env);
        let (db, listen) = (self.db.clone(), self.listen.clone());
        let dir = self.take_dir();
        Self::start_in(dir, db, &listen, &extra, env)
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// Runs a `confvault` command on this server's settings and data; returns its exit status
    /// and standard output.
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        self.cli_with_settings(&self.dir.path().join("confvault.toml"), args)
    }

    /// Like [`Server::cli`], with another settings file (in the same environment).
    pub fn cli_with_settings(&self, settings: &std::path::Path, args: &[&str]) -> (bool, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_confvault"))
            .arg("--config")
            .arg(settings)
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success(), format!("{stdout}{stderr}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("confvault.log")).unwrap_or_default()
    }

    /// Every row `sql` gives, values as text; see [`TestDatabase::sql`].
    pub fn sql(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.db.sql(sql)
    }

    pub fn count(&self, table: &str) -> i64 {
        self.db.number(&format!("SELECT COUNT(*) FROM {table}"))
    }

    /// POSTs each conference callback in turn, signed, and asserts that each is accepted.
    pub async fn post_callbacks<B: Body>(&self, bodies: &[B]) {
        for body in bodies {
            let body = &body.body();
            assert_eq!(
                self.post_signed("/vobiz/conference", body).await.status(),
                200,
                "{body}"
            );
        }
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

    /// POSTs to an API route with the admin token.
    pub async fn post_api(&self, path: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// The text a route answers with, without credentials.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The JSON an API route answers with a token, whatever its status.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get_api(path).await.json().await.unwrap()
    }

    pub async fn conference(&self, uuid: &str) -> serde_json::Value {
        let response = self.get_api(&format!("/api/v1/conferences/{uuid}")).await;
        assert_eq!(response.status(), 200, "conference {uuid}");
        response.json().await.unwrap()
    }

    /// The id of conference `uuid`'s first recording.
    pub async fn first_recording(&self, uuid: &str) -> String {
        self.conference(uuid).await["recordings"][0]["recording_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Vobiz posts its transcription of `recording_id` (`fields`, form-encoded), and it is taken.
    pub async fn transcribe(&self, recording_id: &str, fields: &str) {
        let answer = self
            .post_signed(
                "/vobiz/recording",
                &format!("recording_id={recording_id}&{fields}"),
            )
            .await;
        let status = answer.status();
        assert_eq!(status, 200, "{}", answer.text().await.unwrap());
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
    if !config.contains("sync_interval_minutes") {
        // A test that wants the account sync says so; the others must not reach for Vobiz.
        config = config.replace("[vobiz]\n", "[vobiz]\nsync_interval_minutes = 0\n");
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
