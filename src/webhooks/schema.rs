//! Each event's message schema, published in the OpenAPI document's `webhooks` section (as
//! OpenAPI 3.1 lets): the envelope with its `type` fixed and `data` the event's payload type.

use serde_json::{Value, json};

use super::events::EventType;

/// The payload type (a schema in `components.schemas`) an event's `data` has.
pub fn data_schema(event: EventType) -> &'static str {
    match event {
        EventType::ConferenceEnded => "ConferenceEnded",
        EventType::RecordingArchived
        | EventType::RecordingFailed
        | EventType::RecordingSourceDeleted
        | EventType::RecordingTranscribed => "RecordingEvent",
        EventType::SummarySent => "SummarySent",
        EventType::Ping => "Ping",
    }
}

/// The message schema of `event`, referring to `components.schemas`.
pub fn message_schema(event: EventType) -> Value {
    json!({
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "additionalProperties": false,
        "properties": {
            "type": {"const": event.as_str()},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {"$ref": format!("#/components/schemas/{}", data_schema(event))},
        },
    })
}

/// Adds the `webhooks` section to an OpenAPI document.
pub fn add_to(doc: &mut Value) {
    let mut webhooks = serde_json::Map::new();
    for event in EventType::ALL {
        webhooks.insert(
            event.as_str().to_owned(),
            json!({
                "post": {
                    "summary": format!("A {} message", event.as_str()),
                    "description": "Signed by the Standard Webhooks specification: webhook-id, \
                        webhook-timestamp and webhook-signature headers.",
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": message_schema(event)}},
                    },
                    "responses": {
                        "2XX": {"description": "Delivered"},
                        "410": {"description": "Gone: the endpoint is disabled"},
                        "default": {"description": "Retried on the schedule"},
                    },
                }
            }),
        );
    }
    if let Some(doc) = doc.as_object_mut() {
        doc.insert("webhooks".to_owned(), Value::Object(webhooks));
    }
}
