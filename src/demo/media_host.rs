//! The demo's stand-in for Vobiz's media servers and REST API: serves the demo recordings on
//! loopback, lists the account's recordings (`GET /api/v1/Account/{id}/Recording/`, one page in
//! the documented shape) and, like Vobiz, answers 401 to a request without the account's
//! `X-Auth-ID` / `X-Auth-Token`.

use std::collections::HashMap;
use std::net::TcpListener;

use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use subtle::ConstantTimeEq;

struct Files {
    auth_id: String,
    auth_token: String,
    by_path: HashMap<String, Vec<u8>>,
    /// The account's recordings as the REST API lists them.
    listed: Vec<serde_json::Value>,
}

/// A recording the account lists: its id and the path of its file on this host.
pub struct Listed {
    pub recording_id: String,
    pub path: String,
}

pub struct MediaHost {
    pub origin: String,
    handle: actix_web::dev::ServerHandle,
}

impl MediaHost {
    /// Serves `files` (path → WAV bytes), and lists `listed` as the account's recordings,
    /// until [`MediaHost::stop`].
    pub fn start(
        auth_id: &str,
        auth_token: &str,
        files: HashMap<String, Vec<u8>>,
        listed: &[Listed],
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the demo media host")?;
        let origin = format!("http://{}", listener.local_addr()?);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let listed = listed
            .iter()
            .map(|r| {
                serde_json::json!({
                    "recording_id": r.recording_id,
                    "recording_url": format!("{origin}{}", r.path),
                    "recording_format": "wav",
                    "call_uuid": format!("{}-call", r.recording_id),
                    "conference_name": "",
                    "recording_type": "call",
                    "recording_start_ms": (now_ms - 60_000).to_string(),
                    "recording_end_ms": now_ms.to_string(),
                    "from_number": "+14155550123",
                    "to_number": "918071387423",
                })
            })
            .collect();
        let files = web::Data::new(Files {
            auth_id: auth_id.to_owned(),
            auth_token: auth_token.to_owned(),
            by_path: files,
            listed,
        });
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(files.clone())
                .default_service(web::get().to(serve))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { origin, handle })
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

async fn serve(req: HttpRequest, files: web::Data<Files>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let authorised = bool::from(
        header("x-auth-id")
            .as_bytes()
            .ct_eq(files.auth_id.as_bytes()),
    ) & bool::from(
        header("x-auth-token")
            .as_bytes()
            .ct_eq(files.auth_token.as_bytes()),
    );
    if !authorised {
        return HttpResponse::Unauthorized().body("X-Auth-ID and X-Auth-Token required");
    }
    if req.path() == format!("/api/v1/Account/{}/Recording/", files.auth_id) {
        let total = files.listed.len();
        return HttpResponse::Ok().json(serde_json::json!({
            "api_id": "demo",
            "meta": {"limit": 100, "next": null, "offset": 0, "previous": null, "total_count": total},
            "objects": files.listed,
        }));
    }
    match files.by_path.get(req.path()) {
        Some(bytes) => HttpResponse::Ok()
            .content_type("audio/wav")
            .body(bytes.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}
