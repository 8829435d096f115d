//! The access contract on every backend: the visibility rule (numbers and route globs, glob
//! syntax matched as globset matches it), sign-in links used once, the per-address limit under
//! concurrent requests, sessions ended server-side, and the audit log's filters.

use std::sync::Arc;

use chrono::Duration;
use futures_util::future::join_all;

use super::Database;
use super::access::{
    AuditEvent, AuditQuery, NewSession, NewSigninLink, Redeemed, Scope, SigninRequest,
    SigninRequested, Visibility,
};
use super::contract::for_each_backend;
use super::model::{AuditAction, Filter};
use crate::ingest::rules::tests::{RULES, conference_callback, t0};

const NAMES: &[&str] = &[
    "Sales Sync",
    "sales",
    "Board (Q3)",
    "Stand-up",
    "x.y",
    "xzy",
    "100% done",
];

async fn seed(db: &Arc<dyn Database>) {
    for (i, name) in NAMES.iter().enumerate() {
        let body = format!(
            "ConferenceAction=enter&ConferenceUUID=v{i}&ConferenceName={}&CallUUID=c{i}&From=9100000000{i}&To=1&Timestamp=2026-05-19+10%3A0{i}%3A00",
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        db.record_callback(conference_callback(&body, t0()), RULES)
            .await
            .unwrap();
    }
}

async fn visible_names(db: &Arc<dyn Database>, scope: Scope) -> Vec<String> {
    let filter = Filter {
        limit: 50,
        ..Filter::default()
    };
    let mut names: Vec<String> = db
        .search_conferences(filter, Visibility::Only(scope))
        .await
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_visibility_rule_matches_route_globs_as_mail_routing_does_on_every_backend() {
    for_each_backend(|db| async move {
        seed(&db).await;
        for globs in [
            vec!["Sales*"],
            vec!["{Board,Stand}*"],
            vec!["[!s]*"],
            vec!["x.y"],
            vec!["Board (Q?)"],
            vec!["100% *", "*-up"],
            vec!["*"],
            vec![],
        ] {
            let mut set = globset::GlobSetBuilder::new();
            for g in &globs {
                set.add(globset::Glob::new(g).unwrap());
            }
            let set = set.build().unwrap();
            let mut expected: Vec<String> = NAMES
                .iter()
                .filter(|n| set.is_match(n))
                .map(|n| n.to_string())
                .collect();
            expected.sort();
            let scope = Scope {
                numbers: vec![],
                names: globs.iter().map(|g| g.to_string()).collect(),
            };
            assert_eq!(visible_names(&db, scope).await, expected, "{globs:?}");
        }
        let by_number = Scope {
            numbers: vec!["91000000003".into()],
            names: vec!["sales".into()],
        };
        assert_eq!(visible_names(&db, by_number).await, ["Stand-up", "sales"]);
        let hidden = db
            .conference_detail("v0", Visibility::Only(Scope::default()))
            .await
            .unwrap();
        assert!(hidden.is_none(), "a hidden conference is not found");
        assert!(
            db.conference_detail("v0", Visibility::Everything)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

fn request(email: &str, token: u8) -> SigninRequest {
    SigninRequest {
        email: email.to_owned(),
        client: None,
        at: t0(),
        link: Some(NewSigninLink {
            token_hash: vec![token; 32],
            expires_at: t0() + Duration::minutes(15),
        }),
        window_start: t0() - Duration::hours(1),
        links_per_window: 3,
    }
}

fn session(id: u8, minutes: i64) -> NewSession {
    NewSession {
        id_hash: vec![id; 32],
        created_at: t0() + Duration::minutes(minutes),
        expires_at: t0() + Duration::days(30),
        client: None,
    }
}

#[tokio::test]
async fn a_link_opens_one_session_and_the_limit_holds_under_concurrent_requests() {
    for_each_backend(|db| async move {
        let asks = (0..10u8).map(|i| {
            let db = Arc::clone(&db);
            async move { db.request_signin(request("a@x.test", i)).await.unwrap() }
        });
        let answers = join_all(asks).await;
        let stored = answers
            .iter()
            .filter(|a| **a == SigninRequested::LinkStored)
            .count();
        assert_eq!(stored, 3, "{answers:?}");

        let stored_token = (0..10u8)
            .find(|i| answers[*i as usize] == SigninRequested::LinkStored)
            .unwrap();
        let redeem = |id: u8| {
            let db = Arc::clone(&db);
            async move {
                db.redeem_signin_link(vec![stored_token; 32], session(id, 1))
                    .await
                    .unwrap()
            }
        };
        let both = join_all([redeem(1), redeem(2)]).await;
        assert!(
            both.contains(&Redeemed::SignedIn {
                email: "a@x.test".into()
            }) && both.contains(&Redeemed::Used),
            "{both:?}"
        );
        assert_eq!(
            db.redeem_signin_link(vec![200; 32], session(3, 1))
                .await
                .unwrap(),
            Redeemed::Unknown
        );
        let other = (0..10u8)
            .rev()
            .find(|i| answers[*i as usize] == SigninRequested::LinkStored)
            .unwrap();
        assert_eq!(
            db.redeem_signin_link(vec![other; 32], session(4, 16))
                .await
                .unwrap(),
            Redeemed::Expired
        );

        let opened = both
            .iter()
            .position(|r| matches!(r, Redeemed::SignedIn { .. }))
            .unwrap() as u8
            + 1;
        let live = db.session(vec![opened; 32]).await.unwrap().unwrap();
        assert!(live.is_live(t0() + Duration::minutes(2)));
        assert_eq!(
            db.end_sessions_of("a@x.test", t0() + Duration::minutes(3))
                .await
                .unwrap(),
            1
        );
        let ended = db.session(vec![opened; 32]).await.unwrap().unwrap();
        assert!(!ended.is_live(t0() + Duration::minutes(4)));
        let unknown = db.request_signin(SigninRequest {
            link: None,
            ..request("nobody@x.test", 99)
        });
        assert_eq!(unknown.await.unwrap(), SigninRequested::NoLink);
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_filters_by_conference_and_person_alone_or_together_newest_first() {
    for_each_backend(|db| async move {
        let plays = [
            ("asha@example.com", "m1"),
            ("ben@example.com", "m1"),
            ("asha@example.com", "m2"),
        ];
        for (i, (actor, conference)) in plays.into_iter().enumerate() {
            db.record_audit(AuditEvent {
                at: t0() + Duration::seconds(i64::try_from(i).unwrap()),
                actor: actor.to_owned(),
                action: AuditAction::Play,
                conference_uuid: Some(conference.to_owned()),
                recording_id: None,
                client: None,
                subject: None,
            })
            .await
            .unwrap();
        }
        let listed = |conference: Option<&str>, actor: Option<&str>| {
            let db = Arc::clone(&db);
            let query = AuditQuery {
                conference_uuid: conference.map(str::to_owned),
                actor: actor.map(str::to_owned),
                limit: 10,
            };
            async move {
                db.audit_events(query)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.actor, e.conference_uuid.unwrap()))
                    .collect::<Vec<_>>()
            }
        };
        let pair = |a: &str, c: &str| (a.to_owned(), c.to_owned());

        assert_eq!(listed(None, None).await.len(), 3);
        assert_eq!(
            listed(Some("m1"), None).await,
            [
                pair("ben@example.com", "m1"),
                pair("asha@example.com", "m1")
            ]
        );
        assert_eq!(
            listed(None, Some("asha@example.com")).await,
            [
                pair("asha@example.com", "m2"),
                pair("asha@example.com", "m1")
            ]
        );
        assert_eq!(
            listed(Some("m1"), Some("asha@example.com")).await,
            [pair("asha@example.com", "m1")]
        );
        assert!(listed(Some("m2"), Some("ben@example.com")).await.is_empty());
    })
    .await;
}
