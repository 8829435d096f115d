//! Every route, registered in one function that the server and the tests both use.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::ops::routes)
        .route("/r/{token}", web::get().to(crate::links::play))
        .configure(crate::ingest::routes::routes)
        .configure(crate::api::routes)
        .configure(crate::web::routes)
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}
