//! Service clocks on both backends: tickets due on business time past a weekend, holidays and a
//! 调休 working Sunday, escalated one level at a time up the team tree by `tick`, never twice;
//! the steps by hand (respond, resolve, rate, reopen) with their refusals and history.

use allot_core::activity::TicketFields;
use allot_core::clock::Clock;
use allot_store::care::CareFilter;
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

[service.care]
escalate_after_days = 3

[service.tier.A]
first_response = "2h"
resolution = { major = "8h", general = "3d" }
care_every_days = 14

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

async fn care_tasks(store: &Store, when: &str) -> Vec<(String, String, String, String)> {
    store
        .care_tasks(
            &CareFilter {
                all_states: true,
                ..Default::default()
            },
            at(when),
        )
        .await
        .expect("care tasks")
        .into_iter()
        .map(|task| (task.customer_id, task.kind, task.due_on, task.state))
        .collect()
}

/// The care calendar over a quarter: a cadence from the tier, renewal reminders and a 29
/// February birthday, each planned once; an overdue task tells the owner, then the manager; a
/// real follow-up answers the cadence and the next is planned from it; a tier change re-plans
/// a future cadence task; completing a task records its interaction; the rep's feed parses.
async fn care_is_planned_chased_and_completed(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, SERVICE_POLICY).await;
    customer(&store, "a1", "A").await;
    let fields = serde_json::from_value::<allot_core::CustomerFields>(json!({
        "id": "c2", "name": "续约客户", "tier": "C",
        "attributes": {"renewal_date": "2027-02-20", "birthday": "1980-02-29"},
    }))
    .expect("fields");
    let given = fields.given_columns();
    store
        .put_customer(fields, &given, "test", day(0), true)
        .await
        .expect("c2");
    // Kept at C whatever the monthly re-grade computes (C promises no cadence).
    store
        .set_tier_override(
            &id("c2"),
            "C",
            "test",
            chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            "test",
            day(0),
        )
        .await
        .expect("override");
    let r1 = principal(&store, "r1").await;
    for customer_id in ["a1", "c2"] {
        store
            .claim(&r1, &id(customer_id), None, day(0))
            .await
            .expect("claim");
    }
    // Monday 4 January: a1 (tier A, created today) is owed a follow-up in 14 days; c2's
    // renewal reminder 30 days ahead (21 January) is within the 30 planned days.
    let summary = store
        .tick(at("2027-01-04T20:00:00+08:00"), "test", false)
        .await
        .expect("tick");
    assert_eq!(summary.care.expect("care ran").planned, 2);
    let planned = care_tasks(&store, "2027-01-04T20:00:00+08:00").await;
    assert_eq!(
        planned,
        [
            (
                "a1".to_string(),
                "cadence".to_string(),
                "2027-01-18".to_string(),
                "open".to_string()
            ),
            (
                "c2".to_string(),
                "renewal_30".to_string(),
                "2027-01-21".to_string(),
                "open".to_string()
            ),
        ]
    );
    // Ticking again that day or the next plans nothing twice.
    let next = store
        .tick(at("2027-01-05T20:00:00+08:00"), "test", false)
        .await
        .expect("tick");
    assert_eq!(next.care.expect("care ran").planned, 0);
    // 19 January: a1's follow-up is overdue: the owner is told once.
    let late = store
        .tick(at("2027-01-19T20:00:00+08:00"), "test", false)
        .await
        .expect("tick")
        .care
        .expect("care");
    assert_eq!((late.overdue_notified, late.escalated), (1, 0));
    // 22 January: overdue by more than 3 days: the manager (m1); c2's reminder overdue too.
    let later = store
        .tick(at("2027-01-22T20:00:00+08:00"), "test", false)
        .await
        .expect("tick")
        .care
        .expect("care");
    assert_eq!((later.overdue_notified, later.escalated), (1, 1));
    let m1 = store
        .list_notifications(&principal(&store, "m1").await, false, 100)
        .await
        .expect("notes");
    assert!(
        m1.iter()
            .any(|note| note.kind == "care_escalated" && note.customer_id.as_deref() == Some("a1")),
        "{m1:?}"
    );
    let r1_notes = store
        .list_notifications(&r1, false, 100)
        .await
        .expect("notes");
    assert_eq!(
        r1_notes
            .iter()
            .filter(|note| note.kind == "care_overdue")
            .count(),
        2,
        "{r1_notes:?}"
    );
    // A real follow-up (a visit) on 25 January answers the cadence; the next is due 8 February.
    let visit = serde_json::from_value::<allot_core::activity::InteractionFields>(json!({
        "customer_id": "a1", "rep_id": "r1", "at": "2027-01-25T10:00:00+08:00", "kind": "visit", "minutes": 60,
    }))
    .expect("visit")
    .into_interaction()
    .expect("visit");
    store
        .add_interaction(visit, at("2027-01-25T12:00:00+08:00"))
        .await
        .expect("visit");
    let answered = store
        .tick(at("2027-01-25T20:00:00+08:00"), "test", false)
        .await
        .expect("tick")
        .care
        .expect("care");
    assert_eq!(answered.done_by_follow_up, 1);
    let tasks = care_tasks(&store, "2027-01-25T20:00:00+08:00").await;
    assert!(
        tasks.contains(&(
            "a1".to_string(),
            "cadence".to_string(),
            "2027-01-18".to_string(),
            "done".to_string()
        )),
        "{tasks:?}"
    );
    assert!(
        tasks.contains(&(
            "a1".to_string(),
            "cadence".to_string(),
            "2027-02-08".to_string(),
            "open".to_string()
        )),
        "{tasks:?}"
    );
    // Completing c2's reminder records the interaction that did it.
    let reminder = store
        .care_tasks(
            &CareFilter {
                customer_id: Some("c2".to_string()),
                ..Default::default()
            },
            at("2027-01-25T20:00:00+08:00"),
        )
        .await
        .expect("c2 tasks");
    assert!(reminder[0].overdue);
    let done = store
        .complete_care_task(
            &r1,
            reminder[0].id,
            allot_core::activity::InteractionKind::Call,
            15.0,
            "reached",
            at("2027-01-26T10:00:00+08:00"),
        )
        .await
        .expect("complete");
    assert_eq!(
        (done.state.as_str(), done.interaction_id.as_deref()),
        ("done", Some(format!("care-{}", done.id).as_str()))
    );
    let again = store
        .complete_care_task(
            &r1,
            reminder[0].id,
            allot_core::activity::InteractionKind::Call,
            15.0,
            "reached",
            at("2027-01-26T10:00:00+08:00"),
        )
        .await;
    assert!(refusal_code(again).starts_with("task_closed"));
    // a1 becomes tier C (no cadence): its future cadence task is cancelled.
    store
        .set_tier_override(
            &id("a1"),
            "C",
            "test",
            chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            "test",
            at("2027-01-27T10:00:00+08:00"),
        )
        .await
        .expect("override");
    let replanned = store
        .tick(at("2027-01-27T20:00:00+08:00"), "test", false)
        .await
        .expect("tick")
        .care
        .expect("care");
    assert_eq!(replanned.cancelled, 1, "{replanned:?}");
    // From 1 February, c2's 7-day reminder (13 February) and the birthday on 28 February (29
    // February in a common year) are planned.
    store
        .tick(at("2027-02-01T20:00:00+08:00"), "test", false)
        .await
        .expect("tick");
    let tasks = care_tasks(&store, "2027-02-01T20:00:00+08:00").await;
    assert!(
        tasks.contains(&(
            "c2".to_string(),
            "renewal_7".to_string(),
            "2027-02-13".to_string(),
            "open".to_string()
        )),
        "{tasks:?}"
    );
    assert!(
        tasks.contains(&(
            "c2".to_string(),
            "birthday".to_string(),
            "2027-02-28".to_string(),
            "open".to_string()
        )),
        "{tasks:?}"
    );
    // The rep's feed: a calendar with one event per task, UIDs from the task keys.
    let feed = store
        .care_feed(&rep_id("r1"), at("2027-02-01T20:00:00+08:00"))
        .await
        .expect("feed");
    assert!(
        feed.contains("UID:c2:birthday:2027-02-28@allot\r\n"),
        "{feed}"
    );
    assert!(
        feed.contains("DTSTART:20270228T010000Z\r\n"),
        "09:00 in Beijing: {feed}"
    );
    let calendar = ical::IcalParser::new(feed.as_bytes())
        .next()
        .expect("one calendar")
        .expect("the feed parses");
    assert!(calendar.events.len() >= 4, "{feed}");
    assert!(calendar.events.iter().all(|event| event
        .properties
        .iter()
        .any(|property| property.name == "DTSTAMP")));
}

async fn visit(store: &Store, customer: &str, when: &str) {
    interaction(store, customer, "visit", "", 45, when).await;
}

/// The organisation under `policy`, with r1 owning a1 (tier A) and c1 (tier C), claimed on day 0.
async fn organisation_with_a1_and_c1(store: &Store, policy: &str) {
    organisation(store, policy).await;
    for (customer_id, tier) in [("a1", "A"), ("c1", "C")] {
        customer(store, customer_id, tier).await;
        store
            .claim(
                &principal(store, "r1").await,
                &id(customer_id),
                None,
                day(0),
            )
            .await
            .expect("claim");
    }
}

/// Baseline coverage drops below 100% when a customer is neglected, the manager is told which,
/// and it returns when the customer is served; the service report and the quadrant cover the
/// customers in view.
async fn baseline_coverage_falls_and_recovers(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    let policy = format!(
        "{SERVICE_POLICY}\n[[service.baseline]]\nname = \"每月真实跟进\"\ncheck = \"real_follow_up_every\"\ndays = 30\n\n[[service.baseline]]\nname = \"投诉必有回应\"\ncheck = \"complaints_answered\"\n"
    );
    organisation_with_a1_and_c1(&store, &policy).await;
    visit(&store, "a1", "2027-02-01T10:00:00+08:00").await;
    let report = store
        .baseline_report(None, at("2027-02-10T10:00:00+08:00"))
        .await
        .expect("baseline");
    let monthly = &report.checks[0];
    assert_eq!(
        (monthly.overall.applies, monthly.overall.passing),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(monthly.failing[0].customer_id, "c1");
    assert_eq!(monthly.by_tier["A"].coverage, 1.0);
    // No complaint yet: the check applies to no one.
    assert_eq!(report.checks[1].overall.applies, 0);
    let ticked = store
        .tick(at("2027-02-10T10:00:00+08:00"), "test", false)
        .await
        .expect("tick");
    assert_eq!(ticked.baseline.expect("baseline ran").alerts, 1);
    let m1 = store
        .list_notifications(&principal(&store, "m1").await, false, 100)
        .await
        .expect("notes");
    let told = m1
        .iter()
        .find(|note| note.kind == "baseline_failing")
        .expect("the manager is told");
    assert!(
        told.text.contains("每月真实跟进") && told.text.contains("c1") && !told.text.contains("a1"),
        "{told:?}"
    );
    // A complaint left unanswered past its due time fails the second check.
    open_ticket(&store, "kc", "a1", "general", "2027-02-08T10:00:00+08:00").await;
    let fields: TicketFields =
        serde_json::from_value(json!({"id": "kc", "kind": "complaint"})).expect("fields");
    store
        .put_ticket(
            fields,
            &allot_core::update::GivenColumns::all(["id", "kind"]),
            at("2027-02-10T10:00:00+08:00"),
            "rep:r1",
        )
        .await
        .expect("a complaint");
    visit(&store, "c1", "2027-02-11T10:00:00+08:00").await;
    let report = store
        .baseline_report(None, at("2027-02-11T12:00:00+08:00"))
        .await
        .expect("baseline");
    assert_eq!(
        report.checks[0].overall.coverage, 1.0,
        "c1 is served again: {report:?}"
    );
    assert_eq!(
        (
            report.checks[1].overall.applies,
            report.checks[1].overall.passing
        ),
        (1, 0)
    );
    // The service report and the quadrant over a manager's view (its subtree and the pool).
    let view = store
        .view_of(
            &principal(&store, "m1").await,
            at("2027-02-11T12:00:00+08:00"),
        )
        .await
        .expect("view");
    let service = store
        .service_report(Some(&view), at("2027-02-11T12:00:00+08:00"))
        .await
        .expect("service");
    assert_eq!(service.overall.customers, 2);
    let tiers: Vec<&str> = service.by_tier.iter().map(|row| row.key.as_str()).collect();
    assert_eq!(tiers, ["A", "C"]);
    assert_eq!(
        service.by_tier[0].effort_share, 0.5,
        "45 minutes each: {service:?}"
    );
    assert_eq!(service.by_rep[0].key, "r1");
    let quadrant = store
        .quadrant_report(Some(&view), at("2027-02-11T12:00:00+08:00"))
        .await
        .expect("quadrant");
    assert_eq!(quadrant.points.len(), 2);
    assert_eq!(
        quadrant
            .quadrants
            .iter()
            .map(|quadrant| quadrant.customers)
            .sum::<u64>(),
        2
    );
}

async fn interaction(
    store: &Store,
    customer: &str,
    kind: &str,
    outcome: &str,
    minutes: u32,
    when: &str,
) {
    let mut fields = json!({
        "customer_id": customer, "rep_id": "r1", "at": when, "kind": kind, "minutes": minutes,
    });
    if !outcome.is_empty() {
        fields["outcome"] = json!(outcome);
    }
    let interaction = serde_json::from_value::<allot_core::activity::InteractionFields>(fields)
        .expect("interaction")
        .into_interaction()
        .expect("interaction");
    store
        .add_interaction(interaction, at(when))
        .await
        .expect("interaction");
}

/// What the reports know of each customer's interactions, read in one pass: the window's count
/// and minutes (older ones and ones after the clock left out), the newest real follow-up (a
/// call counts only when reached) and the newest of each kind — the same on both backends
/// (SQLite folds an ordered scan, PostgreSQL groups).
async fn the_reports_read_each_customers_interactions(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    let policy = format!(
        "{SERVICE_POLICY}\n[[service.baseline]]\nname = \"每月真实跟进\"\ncheck = \"real_follow_up_every\"\ndays = 30\n\n[[service.baseline]]\nname = \"五十天一会\"\ncheck = \"interaction_kind_every\"\nkind = \"meeting\"\ndays = 50\n"
    );
    organisation_with_a1_and_c1(&store, &policy).await;
    // a1: an old visit outside the 90-day window, a meeting inside it, an unanswered call.
    interaction(
        &store,
        "a1",
        "visit",
        "done",
        100,
        "2026-10-01T10:00:00+08:00",
    )
    .await;
    interaction(
        &store,
        "a1",
        "meeting",
        "done",
        60,
        "2026-12-20T10:00:00+08:00",
    )
    .await;
    interaction(
        &store,
        "a1",
        "call",
        "no answer",
        30,
        "2027-02-20T10:00:00+08:00",
    )
    .await;
    // c1: a meeting, a reached call, and a visit after the report's clock.
    interaction(
        &store,
        "c1",
        "meeting",
        "done",
        20,
        "2027-01-15T10:00:00+08:00",
    )
    .await;
    interaction(
        &store,
        "c1",
        "call",
        "reached",
        10,
        "2027-02-25T10:00:00+08:00",
    )
    .await;
    interaction(
        &store,
        "c1",
        "visit",
        "done",
        500,
        "2027-03-05T10:00:00+08:00",
    )
    .await;
    let report_at = at("2027-03-01T12:00:00+08:00");
    let baseline = store
        .baseline_report(None, report_at)
        .await
        .expect("baseline");
    let failing = |check: usize| -> Vec<&str> {
        baseline.checks[check]
            .failing
            .iter()
            .map(|customer| customer.customer_id.as_str())
            .collect()
    };
    // a1's newest real follow-up is the meeting of 71 days before; c1's the reached call.
    assert_eq!(failing(0), ["a1"], "{baseline:?}");
    // a1's newest meeting is 71 days old, c1's 45 (the check applies once owned for 50 days).
    assert_eq!(failing(1), ["a1"], "{baseline:?}");
    let service = store
        .service_report(None, report_at)
        .await
        .expect("service");
    let by_tier: Vec<(&str, u64, f64)> = service
        .by_tier
        .iter()
        .map(|row| (row.key.as_str(), row.interactions, row.minutes))
        .collect();
    assert_eq!(by_tier, [("A", 2, 90.0), ("C", 2, 30.0)], "{service:?}");
    assert_eq!(service.by_tier[0].effort_share, 0.75);
    // A report reads the facts as the daily checks do, though on SQLite over two connections:
    // for everyone and for a rep's view, with a ticket of each customer.
    open_ticket(&store, "t-a1", "a1", "major", "2027-02-26T10:00:00+08:00").await;
    open_ticket(&store, "t-c1", "c1", "general", "2027-02-27T10:00:00+08:00").await;
    let rep_view = store
        .view_of(&principal(&store, "r1").await, report_at)
        .await
        .expect("view");
    for view in [None, Some(&rep_view)] {
        let (in_one, for_report, split) = store
            .service_facts_both_ways(view, report_at)
            .await
            .expect("facts");
        assert_eq!(split, backend == Backend::Sqlite);
        let read: Vec<(&str, u32, usize)> = in_one
            .iter()
            .map(|facts| {
                (
                    facts.customer_id.as_str(),
                    facts.interactions,
                    facts.tickets.len(),
                )
            })
            .collect();
        assert_eq!(read, [("a1", 2, 1), ("c1", 2, 1)], "{view:?}");
        assert_eq!(in_one, for_report, "{view:?}");
    }
}

/// The new-customer budget (F3): a team spending more than 40% of its effort on new customers
/// raises an alert for its manager, once; it closes when the effort moves back.
async fn the_new_customer_budget_alert_fires_and_clears(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    let policy =
        format!("[service]\nnew_customer_budget = 0.40\nnew_customer_days = 30\n{SERVICE_POLICY}");
    organisation(&store, &policy).await;
    for customer_id in ["old1", "new1"] {
        customer(&store, customer_id, "C").await;
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
    // 2027-03-01: old1 came two months ago; new1 is in stage 线索 (a lead): new.
    let fields: allot_core::CustomerFields =
        serde_json::from_value(json!({"id": "new1", "stage": "线索"})).expect("fields");
    let given = fields.given_columns();
    store
        .put_customer(fields, &given, "test", day(0), false)
        .await
        .expect("stage");
    for when in ["2027-02-20T10:00:00+08:00", "2027-02-21T10:00:00+08:00"] {
        visit(&store, "new1", when).await;
    }
    visit(&store, "old1", "2027-02-22T10:00:00+08:00").await;
    // Two of three visits (45 minutes each) on the lead: 66.7% > 40%.
    let ticked = store
        .tick(at("2027-03-01T10:00:00+08:00"), "test", false)
        .await
        .expect("tick");
    assert_eq!(ticked.skew.expect("skew ran").raised, 1);
    let alerts = store
        .service_alerts(&principal(&store, "m1").await, false)
        .await
        .expect("alerts");
    assert_eq!(
        (
            alerts.len(),
            alerts[0].kind.as_str(),
            alerts[0].subject.as_str()
        ),
        (1, "new_customer_budget", "sales")
    );
    let m1 = store
        .list_notifications(&principal(&store, "m1").await, false, 100)
        .await
        .expect("notes");
    assert!(m1.iter().any(|note| note.kind == "service_skew"), "{m1:?}");
    let report = store
        .service_report(None, at("2027-03-01T10:00:00+08:00"))
        .await
        .expect("report");
    let sales = report
        .by_team
        .iter()
        .find(|row| row.key == "sales")
        .expect("sales");
    assert!(
        (sales.new_customer_effort_share.expect("effort") - 2.0 / 3.0).abs() < 1e-9,
        "{sales:?}"
    );
    // Three more visits to old1: 2 of 5 = 40%, within the budget: the alert closes.
    for when in [
        "2027-03-01T11:00:00+08:00",
        "2027-03-01T14:00:00+08:00",
        "2027-03-01T15:00:00+08:00",
    ] {
        visit(&store, "old1", when).await;
    }
    let ticked = store
        .tick(at("2027-03-02T10:00:00+08:00"), "test", false)
        .await
        .expect("tick");
    let skew = ticked.skew.expect("skew ran");
    assert_eq!((skew.raised, skew.closed, skew.open), (0, 1, 0));
    let all = store
        .service_alerts(&principal(&store, "d1").await, true)
        .await
        .expect("alerts");
    assert_eq!(all[0].status, "closed");
}

/// The `performance` strategy: after the daily checks score the reps, a rep that follows its
/// customers up gets more of the new ones than a rep that does not, and the weaker one still
/// gets some; the trace shows each candidate's performance weight.
async fn the_performance_strategy_favours_the_stronger_rep(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, SERVICE_POLICY).await;
    store
        .set_rules(
            "[[rule]]\nname = \"by performance\"\nwhen = 'true'\nto = { reps = [\"r1\", \"r2\"] }\nstrategy = \"performance\"\n",
            "test",
            day(0),
        )
        .await
        .expect("rules");
    for (customer_id, owner) in [("s1", "r1"), ("s2", "r1"), ("w1", "r2"), ("w2", "r2")] {
        customer(&store, customer_id, "C").await;
        store
            .claim(
                &principal(&store, owner).await,
                &id(customer_id),
                None,
                day(0),
            )
            .await
            .expect("claim");
    }
    for customer_id in ["s1", "s2"] {
        visit(&store, customer_id, "2027-01-20T10:00:00+08:00").await;
    }
    let ticked = store
        .tick(at("2027-01-21T10:00:00+08:00"), "test", false)
        .await
        .expect("tick");
    assert_eq!(ticked.performance_weights, Some(2), "{ticked:?}");
    let reps = store.list_reps().await.expect("reps");
    let weight = |id: &str| {
        reps.iter()
            .find(|rep| rep.rep.id.as_str() == id)
            .expect("rep")
            .load
            .performance_weight
    };
    // r1: follow-up rate 1 against 0, the other measures equal: score 0.6, r2 0.4.
    assert!(
        (weight("r1") - 1.4).abs() < 1e-9 && (weight("r2") - 1.1).abs() < 1e-9,
        "{} {}",
        weight("r1"),
        weight("r2")
    );
    for number in 0..25 {
        customer(&store, &format!("n{number:02}"), "C").await;
    }
    store
        .route_pool(at("2027-01-21T11:00:00+08:00"), "test", false, &|_| {})
        .await
        .expect("route");
    let owned_by = |rep: &str| {
        let store = store.clone();
        let rep = rep.to_string();
        async move {
            store
                .list_customers(&allot_store::customers::CustomerFilter {
                    owner_id: Some(rep_id(&rep)),
                    search: Some("客户 n".to_string()),
                    limit: 100,
                    ..Default::default()
                })
                .await
                .expect("customers")
                .total
        }
    };
    let (strong, weak) = (owned_by("r1").await, owned_by("r2").await);
    assert_eq!(strong + weak, 25);
    assert!(strong > weak && weak > 0, "r1 {strong}, r2 {weak}");
    let decision = store.decisions_for(&id("n00")).await.expect("decisions");
    let trace = serde_json::to_string(&decision).expect("json");
    assert!(
        trace.contains("performance weight ×1.40") || trace.contains("performance weight ×1.10"),
        "{trace}"
    );
}

test_on_both_backends! {
    tickets_escalate_on_business_time => super::tickets_escalate_on_business_time;
    tickets_without_a_tier_take_the_first_graded_one => super::tickets_without_a_tier_take_the_first_graded_one;
    care_is_planned_chased_and_completed => super::care_is_planned_chased_and_completed;
    baseline_coverage_falls_and_recovers => super::baseline_coverage_falls_and_recovers;
    the_reports_read_each_customers_interactions => super::the_reports_read_each_customers_interactions;
    the_new_customer_budget_alert_fires_and_clears => super::the_new_customer_budget_alert_fires_and_clears;
    the_performance_strategy_favours_the_stronger_rep => super::the_performance_strategy_favours_the_stronger_rep;
}
