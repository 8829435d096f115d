//! Test harness: runs the real `confvault` binary on a random port with its own data
//! directory, and speaks HTTP to it.
#![allow(dead_code, clippy::unwrap_used)]

pub mod media;
pub mod proxy;

use std::io::{BufRead, BufReader, Write as _};
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

/// `s` as a form value (`application/x-www-form-urlencoded`).
pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

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
    env: Vec<(String, String)>,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts with signatures on, an API token, and `extra` appended to the settings file.
    pub fn start(extra: &str) -> Server {
        Self::start_with_env(extra, Vec::new())
    }

    /// Like [`Server::start`], with extra environment variables for the process.
    pub fn start_with_env(extra: &str, env: Vec<(String, String)>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra, env)
    }

    fn start_in(dir: tempfile::TempDir, extra: &str, env: Vec<(String, String)>) -> Server {
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
        }
    }

    /// Kills the process without warning (SIGKILL) and starts a new one on the same data.
    pub fn crash_and_restart(mut self) -> Server {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let extra = std::mem::take(&mut self.extra_config);
        let env = std::mem::take(&mut self.env);
        let dir = self.take_dir();
        Self::start_in(dir, &extra, env)
    }

    /// Like [`Server::crash_and_restart`], with the settings' extra part replaced by `extra`.
    pub fn crash_and_restart_with(mut self, extra: &str) -> Server {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let env = std::mem::take(&mut self.env);
        let dir = self.take_dir();
        Self::start_in(dir, extra, env)
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
        let dir = self.take_dir();
        Self::start_in(dir, &extra, env)
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

    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("data/confvault.db")).unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.database()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// POSTs each conference callback in turn, signed, and asserts that each is accepted.
    pub async fn post_callbacks<B: AsRef<str>>(&self, bodies: &[B]) {
        for body in bodies {
            let body = body.as_ref();
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

/// The S3 server that scripts/test.sh starts (s3s-fs).
pub struct S3 {
    pub endpoint: String,
    access_key: String,
    secret_key: String,
}

impl S3 {
    pub fn from_env() -> S3 {
        let var = |name: &str| test_service(name, "s3s-fs");
        S3 {
            endpoint: var("CV_TEST_S3_ENDPOINT"),
            access_key: var("CV_TEST_S3_ACCESS_KEY"),
            secret_key: var("CV_TEST_S3_SECRET_KEY"),
        }
    }

    /// Credentials for a confvault process, through the standard AWS variables.
    pub fn server_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        let credentials = aws_sdk_s3::config::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "test",
        );
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// A new, empty bucket of the test's own.
    pub async fn new_bucket(&self) -> String {
        let name = format!("t{}-{}", std::process::id(), fresh_nonce()).to_ascii_lowercase();
        self.client()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        name
    }

    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let listed = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let mut keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }

    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> (Vec<u8>, aws_sdk_s3::operation::get_object::GetObjectOutput) {
        let mut object = self
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let body = std::mem::replace(
            &mut object.body,
            aws_sdk_s3::primitives::ByteStream::from_static(b""),
        );
        let bytes = body.collect().await.unwrap().into_bytes().to_vec();
        (bytes, object)
    }
}

/// Where a test service is, from the variable `scripts/test.sh` sets. Without it the test
/// binary stops at once with one line saying what to run, not a panic per test.
pub fn test_service(variable: &str, service: &str) -> String {
    static ONE_LINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    std::env::var(variable).unwrap_or_else(|_| {
        let _only_one = ONE_LINE.lock();
        // Straight to the process's stderr: the test harness would swallow eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "{variable} is not set: these tests need {service}; run them with scripts/test.sh, which installs and starts the test services"
        );
        std::process::exit(2)
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The SMTP server that scripts/test.sh starts (aiosmtpd), and what it received.
pub struct Smtp {
    pub plain_port: String,
    pub tls_port: String,
    pub maildir: PathBuf,
    pub ca_file: String,
    pub user: String,
    pub password: String,
}

/// One received message, decoded.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

impl Smtp {
    pub fn from_env() -> Smtp {
        let var = |name: &str| test_service(name, "aiosmtpd");
        Smtp {
            plain_port: var("CV_TEST_SMTP_PLAIN_PORT"),
            tls_port: var("CV_TEST_SMTP_TLS_PORT"),
            maildir: PathBuf::from(var("CV_TEST_SMTP_MAILDIR")),
            ca_file: var("CV_TEST_SMTP_CA"),
            user: var("CV_TEST_SMTP_USER"),
            password: var("CV_TEST_SMTP_PASSWORD"),
        }
    }

    /// Every message delivered so far to `address`.
    pub fn messages_to(&self, address: &str) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let Some(parsed) = mail_parser::MessageParser::default().parse(&bytes) else {
                continue;
            };
            let to: Vec<String> = parsed
                .to()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.address().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if to.iter().any(|t| t.eq_ignore_ascii_case(address)) {
                found.push(Received {
                    to,
                    subject: parsed.subject().unwrap_or_default().to_owned(),
                    text: parsed
                        .body_text(0)
                        .map(|t| t.into_owned())
                        .unwrap_or_default(),
                    html: parsed
                        .body_html(0)
                        .map(|t| t.into_owned())
                        .unwrap_or_default(),
                    raw: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
        }
        found
    }
}

/// An address no other test uses.
pub fn unique_address(local: &str) -> String {
    format!("{local}-{}@example.test", fresh_nonce())
}
