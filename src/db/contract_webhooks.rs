//! The webhook outbox's contract on both backends: a message per event (once for a conference's
//! end), a delivery per endpoint that takes it, leases, retries, the log and replays.

use chrono::Duration;

use super::contract::{ENTER, callback, for_each_backend};
use super::webhooks::{Attempt, AttemptNext, DeliveryQuery, EndpointRoute, ReplaySelection};
use crate::ingest::rules::tests::{RULES, t0};
use crate::webhooks::events::EventType;

const END: &str = "ConferenceAction=end&ConferenceUUID=k1&ConferenceName=Contract&CallUUID=a&Timestamp=2026-05-19+10%3A30%3A00";
const END_AGAIN: &str = "ConferenceAction=end&ConferenceUUID=k1&ConferenceName=Contract&CallUUID=a&Timestamp=2026-05-19+10%3A31%3A00";

fn routes() -> Vec<EndpointRoute> {
    vec![
        EndpointRoute {
            endpoint: "https://crm.example/hook".into(),
            events: EventType::ALL.to_vec(),
        },
        EndpointRoute {
            endpoint: "https://chat.example/hook".into(),
            events: vec![EventType::RecordingArchived],
        },
    ]
}

#[tokio::test]
async fn an_ended_conference_is_one_message_delivered_per_endpoint_that_takes_it() {
    for_each_backend(|db| async move {
        for body in [ENTER, END, END_AGAIN] {
            db.record_callback(callback(body), RULES).await.unwrap();
        }
        let now = t0() + Duration::seconds(1);

        let made = db.fan_out_webhooks(routes(), now).await.unwrap();
        let again = db.fan_out_webhooks(routes(), now).await.unwrap();
        let crm = "https://crm.example/hook".to_owned();
        let claimed = db
            .claim_webhook_deliveries(
                crm.clone(),
                "w1".into(),
                now,
                now + Duration::seconds(30),
                10,
            )
            .await
            .unwrap();
        let taken = db
            .claim_webhook_deliveries(
                crm.clone(),
                "w2".into(),
                now,
                now + Duration::seconds(30),
                10,
            )
            .await
            .unwrap();

        assert_eq!(
            (made, again),
            (1, 0),
            "one end, one endpoint takes it, once"
        );
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].event, EventType::ConferenceEnded);
        assert_eq!(claimed[0].subject, "k1");
        assert!(claimed[0].message_id.starts_with("msg_"));
        assert!(taken.is_empty(), "leased to w1");
        let backlog = db.webhook_backlog(vec![crm.clone()]).await.unwrap();
        assert_eq!((backlog.pending, backlog.unconfigured), (1, 0));
        assert!(backlog.oldest.is_some());
        let removed = db
            .webhook_backlog(vec!["https://chat.example/hook".into()])
            .await
            .unwrap();
        assert_eq!(
            (removed.pending, removed.oldest, removed.unconfigured),
            (0, None, 1),
            "a delivery to an endpoint taken out of the settings leaves the backlog's count and age"
        );
    })
    .await;
}

#[tokio::test]
async fn attempts_retry_settle_and_replay_under_the_same_message_id() {
    for_each_backend(|db| async move {
        for body in [ENTER, END] {
            db.record_callback(callback(body), RULES).await.unwrap();
        }
        let now = t0() + Duration::seconds(1);
        db.fan_out_webhooks(routes(), now).await.unwrap();
        let crm = "https://crm.example/hook".to_owned();
        let lease = now + Duration::seconds(30);
        let first = db
            .claim_webhook_deliveries(crm.clone(), "w1".into(), now, lease, 10)
            .await
            .unwrap()
            .remove(0);
        let kept = db
            .freeze_webhook_bodies(vec![(first.message_id.clone(), "{\"a\":1}".into())])
            .await
            .unwrap();
        let kept_again = db
            .freeze_webhook_bodies(vec![(first.message_id.clone(), "{\"b\":2}".into())])
            .await
            .unwrap();
        assert_eq!(
            (kept, kept_again),
            (vec!["{\"a\":1}".to_owned()], vec!["{\"a\":1}".to_owned()])
        );

        let attempt = |next, owner: &str| Attempt {
            delivery_id: first.id,
            owner: owner.into(),
            at: now,
            status: Some(503),
            error: Some("HTTP 503".into()),
            duration_ms: 3,
            next,
        };
        let retry_at = now + Duration::seconds(5);
        let recorded = db
            .record_webhook_attempts(vec![
                attempt(AttemptNext::Failed, "w2"),
                attempt(AttemptNext::RetryAt(retry_at), "w1"),
            ])
            .await
            .unwrap();
        assert_eq!(recorded, [false, true], "w2 holds no lease; w1 does");
        let early = db
            .claim_webhook_deliveries(crm.clone(), "w1".into(), now, lease, 10)
            .await
            .unwrap();
        let due = db
            .claim_webhook_deliveries(crm.clone(), "w1".into(), retry_at, lease, 10)
            .await
            .unwrap();
        assert!(early.is_empty(), "not before its retry");
        assert_eq!(
            (due[0].attempts, due[0].body.as_deref()),
            (1, Some("{\"a\":1}"))
        );
        let delivered = Attempt {
            status: Some(200),
            error: None,
            ..attempt(AttemptNext::Delivered, "w1")
        };
        assert_eq!(
            db.record_webhook_attempts(vec![delivered]).await.unwrap(),
            [true]
        );

        let replayed = db
            .replay_webhooks(ReplaySelection::One(first.id), now)
            .await
            .unwrap();
        let log = db
            .webhook_deliveries(DeliveryQuery {
                endpoint: Some(crm.clone()),
                limit: 10,
                ..DeliveryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(replayed.len(), 1);
        assert_eq!(log.len(), 2);
        assert_eq!(
            (log[0].replay_of, log[0].state.as_str()),
            (Some(first.id), "pending")
        );
        assert_eq!(log[0].message_id, first.message_id, "the same webhook-id");
        assert_eq!(
            (log[1].state.as_str(), log[1].attempts, log[1].last_status),
            ("delivered", 2, Some(200))
        );
        let failed = db
            .webhook_deliveries(DeliveryQuery {
                failed_only: true,
                limit: 10,
                ..DeliveryQuery::default()
            })
            .await
            .unwrap();
        assert!(failed.is_empty());

        db.disable_webhook_endpoint(crm.clone(), "410 Gone".into(), now)
            .await
            .unwrap();
        assert_eq!(
            db.disabled_webhook_endpoints().await.unwrap()[0].endpoint,
            crm
        );
        assert!(db.enable_webhook_endpoint(crm.clone()).await.unwrap());
        assert!(db.disabled_webhook_endpoints().await.unwrap().is_empty());
        assert_eq!(
            db.prune_webhooks(now + Duration::days(60)).await.unwrap(),
            1,
            "the settled one"
        );
    })
    .await;
}
