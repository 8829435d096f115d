//! Test harness: runs the real `confvault` binary on a random port with its own data
//! directory, and speaks HTTP to it.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

pub mod browser;
pub mod callbacks;
pub mod database;
pub mod media;
pub mod proxy;
pub mod receiver;
mod server;
mod services;
pub mod vobiz_api;
pub mod web;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use server::{Server, fresh_nonce};
pub use services::{Received, S3, Smtp, sha256_hex, test_service, unique_address};

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
