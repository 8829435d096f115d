//! `/vobiz/conference` and `/vobiz/recording` (record stops and transcriptions): check the
//! request, verify its signature, parse it, commit it, and only then answer 200. Nothing slow
//! happens here.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use super::rules::{Accepted, Endpoint, Outcome, Parsed};
use crate::error::{ApiError, internal};
use crate::state::AppState;
use crate::vobiz::callback::{self, CallbackError, ConferenceCallback, Fields};
use crate::vobiz::{signature, transcription};

/// Largest callback body accepted; real ones are under 2 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest body at the recording endpoint, which also takes transcriptions: the longest text
/// kept, form-encoded (up to three bytes a byte), and the other fields.
pub const MAX_RECORDING_BODY_BYTES: usize = 3 * transcription::MAX_TEXT_BYTES + MAX_BODY_BYTES;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/vobiz/conference")
            .route(web::post().to(conference))
            .route(web::get().to(conference)),
    )
    .service(
        web::resource("/vobiz/recording")
            .route(web::post().to(recording))
            .route(web::get().to(recording)),
    );
}

#[tracing::instrument(name = "callback.conference", skip_all, fields(method = %req.method()))]
async fn conference(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    measured(
        &state,
        Endpoint::Conference,
        handle_conference(&req, body, &state),
    )
    .await
}

#[tracing::instrument(name = "callback.recording", skip_all, fields(method = %req.method()))]
async fn recording(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    measured(
        &state,
        Endpoint::Recording,
        handle_recording(&req, body, &state),
    )
    .await
}

/// Counts the callback, and times it from arrival to answer.
async fn measured(
    state: &AppState,
    endpoint: Endpoint,
    handled: impl Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let result = handled.await;
    state.metrics.callback(
        endpoint.as_str(),
        result.as_ref().err().map(ApiError::code),
        started.elapsed(),
    );
    result
}

async fn handle_conference(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let zone = state.config.timezone;
    let accepted = accept(
        req,
        body,
        state,
        Endpoint::Conference,
        MAX_BODY_BYTES,
        |fields| callback::parse_conference(fields, zone).map(Parsed::Conference),
    )
    .await?;
    let wait_sound = matches!(
        accepted.parsed,
        Parsed::Conference(ConferenceCallback::WaitSound { .. })
    );
    commit(state, accepted).await?;
    if wait_sound {
        return Ok(HttpResponse::Ok()
            .content_type("application/xml")
            .body(wait_music_xml(state.config.vobiz.wait_music_url.as_ref())));
    }
    Ok(ok())
}

async fn handle_recording(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let limit = MAX_RECORDING_BODY_BYTES;
    let accepted = accept(req, body, state, Endpoint::Recording, limit, |fields| {
        if transcription::is_transcription(fields) {
            transcription::parse_transcription(fields).map(Parsed::Transcription)
        } else {
            callback::parse_record_stop(fields).map(Parsed::RecordStop)
        }
    })
    .await?;
    commit(state, accepted).await?;
    Ok(ok())
}

fn ok() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("OK")
}

/// Everything up to the database: size, content type, signature, parsing.
async fn accept(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    endpoint: Endpoint,
    limit: usize,
    parse: impl FnOnce(&Fields) -> Result<Parsed, CallbackError>,
) -> Result<Accepted, ApiError> {
    let received_at = chrono::Utc::now();
    let raw = if req.method() == Method::GET {
        req.query_string().as_bytes().to_vec()
    } else {
        require_form_content_type(req)?;
        read_body(req, body, limit).await?
    };
    let nonce = match &state.signature_keys {
        Some(keys) => Some(verify_signature(req, state, keys)?),
        None => None,
    };
    let fields = Fields::parse(&raw).map_err(refuse)?;
    let parsed = parse(&fields).map_err(refuse)?;
    Ok(Accepted::new(
        endpoint,
        req.method().to_string(),
        String::from_utf8_lossy(&raw).into_owned(),
        fields,
        parsed,
        received_at,
        nonce,
    ))
}

async fn commit(state: &AppState, accepted: Accepted) -> Result<(), ApiError> {
    let rules = state.rules;
    let kind = accepted.endpoint.as_str();
    match state.db.record_callback(accepted, rules).await {
        Ok(Outcome::Stored { new_recording }) => {
            if new_recording {
                state.metrics.recording_discovered("callback");
            }
            Ok(())
        }
        Ok(Outcome::Duplicate) => {
            tracing::debug!(
                endpoint = kind,
                "duplicate callback acknowledged, nothing changed"
            );
            Ok(())
        }
        Ok(Outcome::ReplayRefused) => {
            tracing::warn!(
                code = "replayed_nonce",
                "callback refused: signature nonce reused"
            );
            Err(ApiError::client(
                StatusCode::FORBIDDEN,
                "replayed_nonce",
                "this signature nonce was already used with another body",
            ))
        }
        // Never a 200 for what is not committed: an unavailable database is a 503, which
        // Vobiz delivers again later.
        Err(e) => Err(internal(e)),
    }
}

fn refuse(e: CallbackError) -> ApiError {
    tracing::warn!(code = e.code(), reason = %e, "callback refused");
    ApiError::client(StatusCode::BAD_REQUEST, e.code(), e.to_string())
}

fn require_form_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if mime.as_deref() == Some("application/x-www-form-urlencoded") {
        return Ok(());
    }
    tracing::warn!(code = "unsupported_media_type", content_type = ?mime, "callback refused");
    Err(ApiError::client(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "callbacks must be application/x-www-form-urlencoded",
    ))
}

async fn read_body(
    req: &HttpRequest,
    mut body: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        tracing::warn!(code = "body_too_large", "callback refused");
        ApiError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("callback bodies here are limited to {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("could not read the body: {e}"),
            )
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn verify_signature(
    req: &HttpRequest,
    state: &AppState,
    keys: &signature::Keys,
) -> Result<String, ApiError> {
    // Config validation guarantees a public URL whenever keys are set.
    let base_url = state
        .config
        .signed_base_url(req.path())
        .ok_or_else(|| internal(anyhow::anyhow!("signature check without public_url")))?;
    let headers = req.headers();
    signature::verify(keys, &base_url, |name| {
        headers.get(name).and_then(|v| v.to_str().ok())
    })
    .map(|nonce| nonce.0)
    .map_err(|e| {
        tracing::warn!(code = "bad_signature", reason = %e, "callback refused");
        ApiError::client(StatusCode::FORBIDDEN, "bad_signature", e.to_string())
    })
}

fn wait_music_xml(music: Option<&url::Url>) -> String {
    let inner = match music {
        Some(url) => format!("<Play loop=\"0\">{}</Play>", xml_escape(url.as_str())),
        None => "<Wait length=\"10\"/>".to_owned(),
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{inner}</Response>\n")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
