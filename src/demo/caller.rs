//! The demo's stand-in for Vobiz: callbacks sent the way Vobiz sends them.

use anyhow::Context;

use crate::vobiz::signature::{Scheme, sign};

/// Sends callbacks the way Vobiz does: form-encoded and signed (V3) with a fresh nonce.
pub(super) struct Vobiz {
    pub client: reqwest::Client,
    pub base: String,
    pub auth_token: String,
}

impl Vobiz {
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        let nonce = format!("{}", rand::random::<u64>());
        let signature = sign(&self.auth_token, &url, &nonce, Scheme::V3);
        let body = serde_urlencoded::to_string(fields).context("encoding a callback")?;
        let response = self
            .client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("User-Agent", "Vobiz")
            .header("X-Vobiz-Signature-V3", signature)
            .header("X-Vobiz-Signature-V3-Nonce", nonce)
            .body(body)
            .send()
            .await
            .with_context(|| format!("posting to {path}"))?;
        anyhow::ensure!(
            response.status().is_success(),
            "{path} answered {}",
            response.status()
        );
        Ok(())
    }
}
