//! `GET /api/v1/openapi.json`: the API described by OpenAPI 3, generated from the handlers and
//! types themselves (utoipa), so it cannot drift from the code.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "confvault", description = "Find and play archived Vobiz conference recordings."),
    paths(
        super::list::list,
        super::conferences::show,
        super::recordings::download,
        super::recordings::sidecar,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

pub async fn spec(_: super::auth::Authorized) -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
