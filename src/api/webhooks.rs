//! `GET /api/v1/webhooks/deliveries` and `POST /api/v1/webhooks/deliveries/{id}/replay`: the
//! webhook delivery log and replays, for administrators.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::access::viewer::Admin;
use crate::db::webhooks::{DeliveryQuery, DeliveryRow, ReplaySelection};
use crate::error::{ApiError, internal};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only this endpoint's deliveries: its URL as configured.
    pub endpoint: Option<String>,
    /// Only deliveries that failed for good.
    pub failed: Option<bool>,
    /// 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// The new delivery, due at once.
    pub delivery_id: i64,
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks/deliveries",
    operation_id = "listWebhookDeliveries",
    params(DeliveryParams),
    responses(
        (status = 200, description = "Webhook deliveries, newest first", body = DeliveryList,
            links(
                ("replay" = (
                    operation_id = "replayWebhookDelivery",
                    parameters(("delivery_id" = "$response.body#/deliveries/0/id")),
                    description = "Send the newest delivery of the page again"
                ))
            )
        ),
        (status = 400, description = "A bad filter", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.webhook_deliveries", skip_all)]
pub async fn deliveries(
    _: Admin,
    params: web::Query<DeliveryParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = super::audit::limit(params.limit)?;
    let endpoint = match params.endpoint {
        None => None,
        Some(text) => {
            let url: url::Url = text.parse().map_err(|_| {
                ApiError::client(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "endpoint: not a URL",
                )
            })?;
            Some(crate::config::display_url(&url))
        }
    };
    let deliveries = state
        .db
        .webhook_deliveries(DeliveryQuery {
            endpoint,
            failed_only: params.failed.unwrap_or(false),
            limit,
        })
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries }))
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/deliveries/{delivery_id}/replay",
    operation_id = "replayWebhookDelivery",
    params(("delivery_id" = i64, Path, description = "A delivery's id")),
    responses(
        (status = 202, description = "Queued again: the same webhook-id, a fresh signature", body = Replayed),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::error::ErrorBody),
        (status = 404, description = "No such delivery", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.webhook_replay", skip_all, fields(delivery_id = %path))]
pub async fn replay(
    _: Admin,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ids = state
        .db
        .replay_webhooks(ReplaySelection::One(path.into_inner()), chrono::Utc::now())
        .await
        .map_err(internal)?;
    match ids.first() {
        Some(id) => Ok(HttpResponse::Accepted().json(Replayed { delivery_id: *id })),
        None => Err(ApiError::not_found("delivery")),
    }
}
