//! `GET /api/v1/conferences`: search with filters, newest first, keyset pagination.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::access::viewer::Viewer;
use crate::db::model::ConferenceRow;
use crate::error::{ApiError, internal};
use crate::search::{self, ListQuery, SearchError};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListAnswer {
    pub conferences: Vec<ConferenceRow>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/conferences",
    operation_id = "listConferences",
    params(ListQuery),
    responses(
        (status = 200, description = "Newest first", body = ListAnswer,
            links(
                ("conference" = (
                    operation_id = "getConference",
                    parameters(("conference_uuid" = "$response.body#/conferences/0/conference_uuid")),
                    description = "The first conference of the page, in full"
                )),
                ("nextPage" = (
                    operation_id = "listConferences",
                    parameters(("cursor" = "$response.body#/next_cursor")),
                    description = "The next page of the same search"
                ))
            )
        ),
        (status = 400, description = "A bad filter", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.conferences.list", skip_all)]
pub async fn list(
    viewer: Viewer,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = search::filter(query.into_inner(), state.config.timezone).map_err(invalid)?;
    let page = state
        .db
        .search_conferences(filter, viewer.visibility)
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok().json(ListAnswer {
        next_cursor: page.next.as_ref().map(search::encode_cursor),
        conferences: page.rows,
    }))
}

/// A refused filter, as the API says it.
pub fn invalid(e: SearchError) -> ApiError {
    ApiError::client(StatusCode::BAD_REQUEST, "invalid_query", e.to_string())
}
