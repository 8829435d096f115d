//! `GET /api/v1/openapi.json`: the API described by OpenAPI 3, generated from the handlers and
//! types themselves (utoipa), so it cannot drift from the code.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "confvault", description = "Find and play archived Vobiz conference recordings."),
    paths(
        super::list::list,
        super::conferences::show,
        super::catalog::list,
        super::catalog::show,
        super::recordings::download,
        super::recordings::sidecar,
        super::audit::list,
        super::audit::end_sessions,
        super::webhooks::deliveries,
        super::webhooks::replay,
    ),
    components(schemas(
        crate::webhooks::payload::ConferenceEnded,
        crate::webhooks::payload::RecordingEvent,
        crate::webhooks::payload::SummarySent,
        crate::webhooks::payload::Ping,
    )),
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

pub async fn spec(_: crate::access::viewer::Viewer) -> HttpResponse {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    HttpResponse::Ok().json(DOCUMENT.get_or_init(document))
}

/// The OpenAPI document as JSON. utoipa 5 writes a link's fields in snake_case
/// (`operation_id`), which OpenAPI tools read as no target at all; they are renamed to the
/// specification's camelCase here.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let operations = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|methods| methods.values_mut());
    for operation in operations {
        let links = operation
            .get_mut("responses")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|responses| responses.values_mut())
            .filter_map(|response| response.get_mut("links"))
            .filter_map(serde_json::Value::as_object_mut)
            .flat_map(|links| links.values_mut())
            .filter_map(serde_json::Value::as_object_mut);
        for link in links {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
    crate::webhooks::schema::add_to(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_their_target_operation_as_openapi_spells_it() {
        let doc = document();
        let link =
            &doc["paths"]["/api/v1/conferences"]["get"]["responses"]["200"]["links"]["conference"];
        assert_eq!(link["operationId"], "getConference");
        assert!(link.get("operation_id").is_none());
        let detail = &doc["paths"]["/api/v1/conferences/{conference_uuid}"]["get"];
        assert_eq!(detail["operationId"], "getConference");
    }

    #[test]
    fn every_event_has_a_published_message_schema_whose_data_type_exists() {
        let doc = document();
        for event in crate::webhooks::events::EventType::ALL {
            let schema = &doc["webhooks"][event.as_str()]["post"]["requestBody"]["content"]["application/json"]
                ["schema"];
            assert_eq!(schema["properties"]["type"]["const"], event.as_str());
            let data = crate::webhooks::schema::data_schema(event);
            assert!(
                doc["components"]["schemas"][data].is_object(),
                "{data} is in components.schemas"
            );
        }
    }
}
