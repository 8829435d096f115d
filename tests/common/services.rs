//! The real servers that scripts/test.sh starts for the tests (s3s-fs, aiosmtpd), found through
//! the variables it exports.

use std::io::Write as _;
use std::path::PathBuf;

use super::fresh_nonce;

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
