//! The demo's stand-in for Vobiz's media servers: serves the demo recordings on loopback and,
//! like Vobiz, answers 401 to a request without the account's `X-Auth-ID` / `X-Auth-Token`.

use std::collections::HashMap;
use std::net::TcpListener;

use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use subtle::ConstantTimeEq;

struct Files {
    auth_id: String,
    auth_token: String,
    by_path: HashMap<String, Vec<u8>>,
}

pub struct MediaHost {
    pub origin: String,
    handle: actix_web::dev::ServerHandle,
}

impl MediaHost {
    /// Serves `files` (path → WAV bytes) until [`MediaHost::stop`].
    pub fn start(
        auth_id: &str,
        auth_token: &str,
        files: HashMap<String, Vec<u8>>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the demo media host")?;
        let origin = format!("http://{}", listener.local_addr()?);
        let files = web::Data::new(Files {
            auth_id: auth_id.to_owned(),
            auth_token: auth_token.to_owned(),
            by_path: files,
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
    match files.by_path.get(req.path()) {
        Some(bytes) => HttpResponse::Ok()
            .content_type("audio/wav")
            .body(bytes.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}
