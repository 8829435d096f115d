//! The security headers on every answer: a Content-Security-Policy with no inline script or
//! style, no framing, no sniffing, no referrer (recording links carry their credential in the
//! path), and nothing that shows meetings kept in a shared cache.

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};

use crate::config::{Config, StorageKind};

/// Where browsers report what the policy blocked.
const REPORTS: &str = "/csp-reports";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(REPORTS)
            .app_data(web::PayloadConfig::new(16 * 1024))
            .route(web::post().to(report)),
    );
}

/// Logs a violation report: a page that breaks its own policy is a bug to hear about. The
/// page's address is left out, as sign-in and recording links carry credentials in it.
async fn report(body: web::Bytes) -> HttpResponse {
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let field = |name: &str| {
        report["csp-report"][name]
            .as_str()
            .unwrap_or("?")
            .chars()
            .take(200)
            .collect::<String>()
    };
    tracing::warn!(
        directive = %field("violated-directive"),
        blocked = %field("blocked-uri"),
        "content security policy violation"
    );
    HttpResponse::NoContent().finish()
}

/// The headers, added to each answer that does not set its own; `policy` from
/// [`content_security_policy`].
pub fn middleware(policy: &str) -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", policy.to_owned()))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "private, no-store"))
}

/// Scripts, styles and everything else from this origin only; audio also from the bucket,
/// where downloads redirect to presigned URLs.
pub fn content_security_policy(config: &Config) -> String {
    let media = match config.storage.kind {
        StorageKind::S3 => bucket_sources(config),
        _ => String::new(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self'{media}; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'; report-uri {REPORTS}"
    )
}

/// The origins presigned URLs may have: the endpoint (path style) and its subdomains (a
/// bucket as a virtual host), or AWS's.
fn bucket_sources(config: &Config) -> String {
    match &config.storage.endpoint {
        Some(url) => {
            let host = url.host_str().unwrap_or_default();
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            let scheme = url.scheme();
            format!(" {scheme}://{host}{port} {scheme}://*.{host}{port}")
        }
        None => " https://*.amazonaws.com".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_no_inline_code_and_names_the_bucket_for_audio() {
        let mut config = Config::default();
        let local = content_security_policy(&config);
        assert!(!local.contains("unsafe-inline"), "{local}");
        assert!(local.contains("media-src 'self';"), "{local}");
        assert!(local.contains("frame-ancestors 'none'"), "{local}");
        config.storage.kind = StorageKind::S3;
        config.storage.endpoint = Some("http://127.0.0.1:9000".parse().unwrap());
        let s3 = content_security_policy(&config);
        assert!(
            s3.contains("media-src 'self' http://127.0.0.1:9000 http://*.127.0.0.1:9000;"),
            "{s3}"
        );
    }
}
