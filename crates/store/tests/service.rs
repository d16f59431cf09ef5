//! Service clocks on both backends: tickets due on business time past a weekend, holidays and a
//! 调休 working Sunday, escalated one level at a time up the team tree by `tick`, never twice;
//! the steps by hand (respond, resolve, rate, reopen) with their refusals and history.

use allot_core::activity::TicketFields;
use allot_core::clock::Clock;
use allot_store::tickets::{TicketFilter, TicketState, TicketStep};
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store, StoreError};
use serde_json::json;

mod common;
use common::*;

const SERVICE_POLICY: &str = r#"
[service.calendar]
time_zone = "Asia/Shanghai"
working_hours = ["09:00-12:00", "13:30-18:00"]
holidays = ["2027-02-10", "2027-02-11"]
extra_working_days = ["2027-02-07"]

[service.tier.A]
first_response = "2h"
resolution = { major = "8h", general = "3d" }

[service.tier.C]
first_response = "24h"
resolution = { major = "2d", general = "5d" }
business_hours = false
"#;

fn at(raw: &str) -> Clock {
    Clock::parse(raw).expect("clock")
}

async fn open_ticket(store: &Store, id: &str, customer: &str, severity: &str, opened: &str) {
    let fields: TicketFields = serde_json::from_value(json!({
        "id": id, "customer_id": customer, "opened_at": opened, "severity": severity, "subject": "无法登录",
    }))
    .expect("ticket fields");
    let given = allot_core::update::GivenColumns::all([
        "id",
        "customer_id",
        "opened_at",
        "severity",
        "subject",
    ]);
    let stored = store
        .put_ticket(fields, &given, at(opened), "rep:r1")
        .await
        .expect("ticket");
    assert_eq!(stored.created, Some(true));
}

/// Ticks at `when` and answers the escalations it made.
async fn tick(store: &Store, when: &str) -> usize {
    store
        .tick(at(when), "test", false)
        .await
        .expect("tick")
        .escalation
        .expect("escalation ran")
        .escalations
}

fn instant(raw: &str) -> String {
    allot_store::StoredTime(
        chrono::DateTime::parse_from_rfc3339(raw)
            .expect("time")
            .with_timezone(&chrono::Utc),
    )
    .text()
}

async fn tickets_escalate_on_business_time(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, SERVICE_POLICY).await;
    for (customer_id, tier) in [("a1", "A"), ("c1", "C"), ("a2", "A")] {
        customer(&store, customer_id, tier).await;
        store
            .claim(
                &principal(&store, "r1").await,
                &id(customer_id),
                None,
                day(0),
            )
            .await
            .expect("claim");
    }

    // Friday 5 February 17:00: two business hours are Friday 17:00–18:00 and the 调休 Sunday
    // 09:00–10:00.
    open_ticket(&store, "k1", "a1", "major", "2027-02-05T17:00:00+08:00").await;
    let k1 = store
        .ticket("k1", at("2027-02-06T12:00:00+08:00"))
        .await
        .expect("k1");
    assert_eq!(k1.ticket.tier.as_deref(), Some("A"));
    assert_eq!(
        k1.ticket.first_response_due,
        Some(instant("2027-02-07T10:00:00+08:00"))
    );
    assert_eq!(k1.ticket.remaining_business_minutes, Some(60));
    assert!(!k1.ticket.breached);
    assert_eq!(k1.history.len(), 1);
    assert_eq!(k1.history[0].kind, "opened");
    assert_eq!(k1.history[0].actor, "rep:r1");

    assert_eq!(tick(&store, "2027-02-07T09:59:00+08:00").await, 0);
    // One minute past due: level 1, the owner's team manager.
    assert_eq!(tick(&store, "2027-02-07T10:01:00+08:00").await, 1);
    assert_eq!(
        tick(&store, "2027-02-07T10:01:00+08:00").await,
        0,
        "a second tick at one time changes nothing"
    );
    let k1 = store
        .ticket("k1", at("2027-02-07T10:01:00+08:00"))
        .await
        .expect("k1");
    assert!(k1.ticket.breached && k1.ticket.first_response_breached);
    assert_eq!(k1.ticket.escalation_level, 1);
    assert_eq!(k1.ticket.remaining_business_minutes, Some(-1));
    let escalated = k1.history.last().expect("escalated");
    assert_eq!(
        (
            escalated.kind.as_str(),
            escalated.level,
            escalated.recipient_rep_id.as_deref()
        ),
        ("escalated", Some(1), Some("m1"))
    );
    assert_eq!(escalated.actor, "system:escalate_tickets");
    let m1 = store
        .list_notifications(&principal(&store, "m1").await, false, 100)
        .await
        .expect("notifications");
    assert!(
        m1.iter()
            .any(|note| note.kind == "ticket_escalated" && note.ticket_id.as_deref() == Some("k1")),
        "{m1:?}"
    );
    // Two business hours later (10:00 + 2 h = 12:00): level 2, the director.
    assert_eq!(tick(&store, "2027-02-07T11:59:00+08:00").await, 0);
    assert_eq!(tick(&store, "2027-02-07T12:01:00+08:00").await, 1);

    // Tier C counts the wall clock: 24 h after Tuesday 17:00, holidays or not.
    open_ticket(&store, "k2", "c1", "general", "2027-02-09T17:00:00+08:00").await;
    let k2 = store
        .ticket("k2", at("2027-02-10T09:00:00+08:00"))
        .await
        .expect("k2");
    assert_eq!(
        k2.ticket.first_response_due,
        Some(instant("2027-02-10T17:00:00+08:00"))
    );
    assert_eq!(
        k2.ticket.resolution_due,
        Some(instant("2027-02-14T17:00:00+08:00"))
    );
    store
        .ticket_step(
            "k2",
            TicketStep::Respond,
            None,
            at("2027-02-10T10:00:00+08:00"),
            "rep:r1",
        )
        .await
        .expect("respond to k2");
    // Tier A on Tuesday 17:30: half an hour, then Wednesday and Thursday off, then Friday.
    open_ticket(&store, "k3", "a2", "general", "2027-02-09T17:30:00+08:00").await;
    let k3 = store
        .ticket("k3", at("2027-02-10T09:00:00+08:00"))
        .await
        .expect("k3");
    assert_eq!(
        k3.ticket.first_response_due,
        Some(instant("2027-02-12T10:30:00+08:00"))
    );
    // k1 climbs to the admins (level 3); k2 was answered in time, k3 is not due yet.
    assert_eq!(tick(&store, "2027-02-12T10:29:00+08:00").await, 1);

    // Steps by hand, with their refusals.
    let step = |id: &'static str, step: TicketStep, when: &'static str| {
        let store = store.clone();
        async move { store.ticket_step(id, step, None, at(when), "rep:r1").await }
    };
    let k3 = step("k3", TicketStep::Respond, "2027-02-12T10:00:00+08:00")
        .await
        .expect("respond");
    assert!(!k3.breached);
    assert_eq!(
        k3.first_response_at,
        Some(instant("2027-02-12T10:00:00+08:00"))
    );
    let again = step("k3", TicketStep::Respond, "2027-02-12T10:05:00+08:00").await;
    assert!(refusal_code(again).starts_with("ticket_already_responded"));
    let early = store
        .ticket_step(
            "k3",
            TicketStep::Resolve,
            Some(
                chrono::DateTime::parse_from_rfc3339("2027-02-01T10:00:00+08:00")
                    .unwrap()
                    .into(),
            ),
            at("2027-02-12T11:00:00+08:00"),
            "rep:r1",
        )
        .await;
    assert!(
        matches!(early, Err(StoreError::Invalid(ref error)) if error.field == "at"),
        "{early:?}"
    );
    let rate_open = step("k3", TicketStep::Rate(4), "2027-02-12T11:00:00+08:00").await;
    assert!(refusal_code(rate_open).starts_with("ticket_open"));
    let reopen_open = step("k3", TicketStep::Reopen, "2027-02-12T11:00:00+08:00").await;
    assert!(refusal_code(reopen_open).starts_with("ticket_open"));
    let k3 = step("k3", TicketStep::Resolve, "2027-02-12T11:00:00+08:00")
        .await
        .expect("resolve");
    assert!(k3.resolved_at.is_some() && k3.closed_at.is_some());
    assert_eq!(k3.remaining_business_minutes, None);
    let again = step("k3", TicketStep::Resolve, "2027-02-12T11:05:00+08:00").await;
    assert!(refusal_code(again).starts_with("ticket_resolved"));
    let bad_rating = step("k3", TicketStep::Rate(6), "2027-02-12T11:00:00+08:00").await;
    assert!(matches!(bad_rating, Err(StoreError::Invalid(ref error)) if error.field == "rating"));
    let k3 = step("k3", TicketStep::Rate(4), "2027-02-12T11:10:00+08:00")
        .await
        .expect("rate");
    assert_eq!(k3.rating, Some(4));
    // Reopened on Monday 15 February 09:00: three business days again, to Wednesday evening.
    let k3 = step("k3", TicketStep::Reopen, "2027-02-15T09:00:00+08:00")
        .await
        .expect("reopen");
    assert_eq!(k3.reopened, 1);
    assert_eq!(k3.rating, None);
    assert_eq!(
        k3.resolution_due,
        Some(instant("2027-02-17T18:00:00+08:00"))
    );
    let history: Vec<String> = store
        .ticket("k3", at("2027-02-15T09:00:00+08:00"))
        .await
        .expect("k3")
        .history
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        history,
        ["opened", "responded", "resolved", "rated", "reopened"]
    );

    // k2's resolution (five days on the wall clock) is past: level 1; k1 stays at the top.
    assert_eq!(tick(&store, "2027-02-15T09:00:00+08:00").await, 1);
    // Five days more: level 2 for k2; k3's new resolution (Wednesday 18:00) is past: level 1;
    // nothing above the admins for k1.
    assert_eq!(tick(&store, "2027-02-22T09:00:00+08:00").await, 2);
    let k1 = store
        .ticket("k1", at("2027-02-22T09:00:00+08:00"))
        .await
        .expect("k1");
    let recipients: Vec<(Option<i64>, Option<&str>)> = k1
        .history
        .iter()
        .filter(|event| event.kind == "escalated")
        .map(|event| (event.level, event.recipient_rep_id.as_deref()))
        .collect();
    assert_eq!(
        recipients,
        [
            (Some(1), Some("m1")),
            (Some(2), Some("d1")),
            (Some(3), None)
        ]
    );

    // Lists: open ones oldest first, in view.
    let open = store
        .ticket_page(
            &TicketFilter {
                state: TicketState::Open,
                ..Default::default()
            },
            at("2027-02-15T09:00:00+08:00"),
        )
        .await
        .expect("open tickets");
    let ids: Vec<&str> = open.items.iter().map(|ticket| ticket.id.as_str()).collect();
    assert_eq!((open.total, ids), (3, vec!["k1", "k2", "k3"]));
    let unknown = store.ticket("nope", at("2027-02-15T09:00:00+08:00")).await;
    assert!(matches!(
        unknown,
        Err(StoreError::NotFound {
            entity: "ticket",
            ..
        })
    ));
}

/// Tickets imported before their customer had a tier take the tier of its first grading; a
/// policy without service promises leaves tickets without due times and escalates nothing.
async fn tickets_without_a_tier_take_the_first_graded_one(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, "").await;
    let fields = serde_json::from_value::<allot_core::CustomerFields>(
        json!({"id": "u1", "name": "无等级客户"}),
    )
    .expect("fields");
    let given = fields.given_columns();
    store
        .put_customer(fields, &given, "test", day(0), true)
        .await
        .expect("customer");
    open_ticket(&store, "k9", "u1", "general", "2027-01-04T10:00:00+08:00").await;
    let before = store.ticket("k9", day(1)).await.expect("k9");
    assert_eq!(before.ticket.tier, None);
    assert_eq!(before.ticket.first_response_due, None);
    assert_eq!(tick(&store, "2027-01-05T10:00:00+08:00").await, 0);
    store
        .score_customers(day(2), "test", true)
        .await
        .expect("grading");
    let after = store.ticket("k9", day(2)).await.expect("k9");
    assert!(after.ticket.tier.is_some(), "{after:?}");
}

test_on_both_backends! {
    tickets_escalate_on_business_time => super::tickets_escalate_on_business_time;
    tickets_without_a_tier_take_the_first_graded_one => super::tickets_without_a_tier_take_the_first_graded_one;
}
