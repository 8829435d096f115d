//! The ingest benchmark's ceiling: an actix-web server that parses each callback's form and
//! answers OK, checking and storing nothing. `scripts/bench-ingest.sh` runs it under the same
//! wrk load as confvault and the seed's handler (`BENCH_CEILING=1`), so a run shows what HTTP
//! and the load generator leave of this machine for confvault's own work.
//!
//! cargo run --release --example ingest_ceiling -- 127.0.0.1:0

use std::collections::HashMap;

use actix_web::{App, HttpResponse, HttpServer, web};

async fn callback(form: web::Form<HashMap<String, String>>) -> HttpResponse {
    std::hint::black_box(form.len());
    HttpResponse::Ok().body("OK")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let server =
        HttpServer::new(|| App::new().route("/vobiz/conference", web::post().to(callback)))
            .bind(listen.as_str())?;
    for address in server.addrs() {
        println!("listening on http://{address}");
    }
    server.run().await
}
