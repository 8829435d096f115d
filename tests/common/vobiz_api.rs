//! A Vobiz REST API for tests, following the documented shapes: the account's recordings list
//! (paged with `meta`), get, delete, and the recordings' media, all behind `X-Auth-ID` and
//! `X-Auth-Token`. Failures can be scripted (a 429 with `Retry-After`, a 500, a page that is not
//! JSON), and every request is recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub const AUTH_ID: &str = "MA_SYNC_TEST";
pub const TOKEN: &str = "rest-token-not-for-logs";

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorised: bool,
}

/// A scripted answer given instead of the real one, to the next matching request.
#[derive(Debug, Clone)]
pub enum Trouble {
    Status {
        status: u16,
        retry_after: Option<&'static str>,
    },
    NotJson,
}

#[derive(Default)]
struct State {
    /// Newest first, as the account lists them.
    recordings: Vec<Value>,
    media: Vec<u8>,
    page_size: usize,
    /// Scripted answers for list requests at an offset (None: any list request).
    list_trouble: VecDeque<(Option<usize>, Trouble)>,
    /// Answers to deletes: recordings whose delete answers 404 although listed.
    gone: Vec<String>,
    requests: Vec<Request>,
}

#[derive(Clone)]
pub struct VobizApi {
    pub origin: String,
    state: Arc<Mutex<State>>,
}

impl VobizApi {
    /// Serves at most `page_size` objects a page, however many are asked for.
    pub fn start(page_size: usize) -> VobizApi {
        let state = Arc::new(Mutex::new(State {
            media: std::fs::read(super::fixture("standup.mp3")).unwrap(),
            page_size,
            ..State::default()
        }));
        let shared = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        // Its own thread and runtime, so that it answers while the test blocks on a command.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(shared.clone())
                        .default_service(web::to(answer))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run()
                .await
            })
        });
        VobizApi { origin, state }
    }

    /// The `[vobiz]` settings that point confvault at this API with the right credentials.
    pub fn settings(&self, token: &str) -> String {
        format!(
            "auth_id = \"{AUTH_ID}\"\nauth_token = \"{token}\"\nverify_signatures = false\n\
             api_url = \"{origin}/api/v1\"\nrecording_hosts = [\"{origin}\"]\n\
             api_max_attempts = 4\n",
            origin = self.origin
        )
    }

    /// A recording object as the API lists it; the newest is added first.
    pub fn add(&self, recording_id: &str, call_uuid: &str, start_ms: i64) -> Value {
        let object = json!({
            "recording_id": recording_id,
            "recording_url": format!("{}/media/{recording_id}.mp3", self.origin),
            "recording_format": "mp3",
            "call_uuid": call_uuid,
            "conference_name": "",
            "recording_type": "conference",
            "add_time": "2026-05-19 10:58:47.123456+05:30",
            "recording_start_ms": start_ms.to_string(),
            "recording_end_ms": (start_ms + 61_000).to_string(),
            "recording_duration_ms": "61000.00000",
            "rounded_recording_duration": 120,
            "from_number": "+918071387423",
            "to_number": 919624705678u64,
            "recording_storage_duration": 2,
            "resource_uri": format!("/api/v1/Account/{AUTH_ID}/Recording/{recording_id}/"),
            "api_id": "x",
            "a_field_nobody_documented": {"nested": true},
        });
        self.add_object(object.clone());
        object
    }

    /// Any object, verbatim (the bad ones too).
    pub fn add_object(&self, object: Value) {
        self.state.lock().unwrap().recordings.push(object);
    }

    /// The next list request (at `offset`, if given) gets `trouble` instead.
    pub fn trouble(&self, offset: Option<usize>, trouble: Trouble) {
        self.state
            .lock()
            .unwrap()
            .list_trouble
            .push_back((offset, trouble));
    }

    /// Deletes of `recording_id` answer 404, as for a recording Vobiz already removed.
    pub fn already_gone(&self, recording_id: &str) {
        self.state
            .lock()
            .unwrap()
            .gone
            .push(recording_id.to_owned());
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn deletes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.path)
            .collect()
    }
}

fn trouble_answer(trouble: Trouble) -> HttpResponse {
    match trouble {
        Trouble::Status {
            status,
            retry_after,
        } => {
            let mut answer =
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
            if let Some(seconds) = retry_after {
                answer.insert_header(("Retry-After", seconds));
            }
            answer.json(json!({"api_id": "x", "error": "scripted"}))
        }
        Trouble::NotJson => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><body>502 Bad Gateway</body></html>"),
    }
}

async fn answer(req: HttpRequest, state: web::Data<Mutex<State>>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorised = header("x-auth-id").as_deref() == Some(AUTH_ID)
        && header("x-auth-token").as_deref() == Some(TOKEN);
    let mut state = state.lock().unwrap();
    state.requests.push(Request {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        authorised,
    });
    if !authorised {
        return HttpResponse::Unauthorized()
            .json(json!({"api_id": "x", "error": "not authorised"}));
    }
    let account = format!("/api/v1/Account/{AUTH_ID}/Recording/");
    let path = req.path().to_owned();
    if let Some(file) = path.strip_prefix("/media/") {
        let id = file.trim_end_matches(".mp3");
        let known = state.recordings.iter().any(|r| r["recording_id"] == id);
        return if known {
            HttpResponse::Ok()
                .content_type("audio/mpeg")
                .body(state.media.clone())
        } else {
            HttpResponse::NotFound().finish()
        };
    }
    let Some(rest) = path.strip_prefix(&account) else {
        return HttpResponse::NotFound().json(json!({"error": "no such path"}));
    };
    if rest.is_empty() {
        return list(&req, &mut state, &account);
    }
    let id = rest.trim_end_matches('/');
    let index = state
        .recordings
        .iter()
        .position(|r| r["recording_id"] == id);
    match (req.method().as_str(), index) {
        ("GET", Some(i)) => HttpResponse::Ok().json(state.recordings[i].clone()),
        ("DELETE", Some(_)) if state.gone.iter().any(|g| g == id) => {
            HttpResponse::NotFound().json(json!({"error": "Recording not found"}))
        }
        ("DELETE", Some(i)) => {
            state.recordings.remove(i);
            HttpResponse::NoContent().finish()
        }
        _ => HttpResponse::NotFound().json(json!({"api_id": "x", "error": "Recording not found"})),
    }
}

fn list(req: &HttpRequest, state: &mut State, account: &str) -> HttpResponse {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let get = |k: &str| {
        query
            .iter()
            .find(|(name, _)| name == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let offset = get("offset").unwrap_or(0);
    let limit = get("limit")
        .unwrap_or(20)
        .clamp(1, 100)
        .min(state.page_size);
    if let Some(i) = state
        .list_trouble
        .iter()
        .position(|(at, _)| at.is_none_or(|at| at == offset))
    {
        let (_, trouble) = state.list_trouble.remove(i).unwrap();
        return trouble_answer(trouble);
    }
    let total = state.recordings.len();
    let objects: Vec<Value> = state
        .recordings
        .iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    let next = (offset + limit < total)
        .then(|| format!("{account}?limit={limit}&offset={}", offset + limit));
    HttpResponse::Ok().json(json!({
        "api_id": "x",
        "meta": {"limit": limit, "next": next, "offset": offset, "previous": null, "total_count": total},
        "objects": objects,
    }))
}
