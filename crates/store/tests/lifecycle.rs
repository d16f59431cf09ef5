//! The ownership lifecycle on both backends: a 90-day run of `tick` in which claims meet their
//! limits, customers of tiers A, B and C without real follow-up are warned and reclaimed on the
//! right day (a visit resets the clock, an email does not), cooldown ends on its day, an A
//! customer's transfer needs two approvals and the hand-over, and a departure moves everything;
//! racing claims leave one owner.

use allot_core::access::Principal;
use allot_core::pool::TransferReason;
use allot_store::events::EventFilter;
use allot_store::lifecycle::transfers::{TransferRequest, TransferTarget};
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store, StoreError};
use serde_json::json;

mod common;
use common::*;

async fn interaction(store: &Store, customer: &str, kind: &str, outcome: &str, on: i64) {
    let fields = serde_json::from_value::<allot_core::activity::InteractionFields>(json!({
        "customer_id": customer, "rep_id": "r1", "at": day(on).now().to_rfc3339(),
        "kind": kind, "minutes": "10", "outcome": outcome,
    }))
    .expect("interaction fields");
    store
        .add_interaction(fields.into_interaction().expect("interaction"), day(on))
        .await
        .expect("interaction");
}

/// The first day each customer was warned, or reclaimed.
type Days = std::collections::BTreeMap<String, i64>;

/// Ticks on `today` and again at the same time (which must change nothing), noting the first
/// day of each warning and reclaim.
async fn tick_twice(store: &Store, today: i64, warned_on: &mut Days, reclaimed_on: &mut Days) {
    let summary = store.tick(day(today), "test", false).await.expect("tick");
    let again = store
        .tick(day(today), "test", false)
        .await
        .expect("tick again");
    assert!(
        again.ran.is_empty(),
        "day {today}: ticking twice at one time changes nothing"
    );
    if let Some(reclaim) = summary.reclaim {
        for item in reclaim.warned {
            warned_on.entry(item.customer_id).or_insert(today);
        }
        for item in reclaim.reclaimed {
            reclaimed_on.entry(item.customer_id).or_insert(today);
        }
    }
}

async fn pool_lifecycle(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, POLICY).await;
    for (customer_id, tier) in [
        ("c1", "C"),
        ("c2", "C"),
        ("c3", "C"),
        ("a1", "A"),
        ("a2", "A"),
        ("b1", "B"),
    ] {
        customer(&store, customer_id, tier).await;
    }
    let r1 = principal(&store, "r1").await;

    // Day 0: two claims, then the daily limit.
    store
        .claim(&r1, &id("c1"), None, day(0))
        .await
        .expect("claim c1");
    store
        .claim(&r1, &id("c2"), None, day(0))
        .await
        .expect("claim c2");
    let refused = refusal_code(store.claim(&r1, &id("c3"), None, day(0)).await);
    assert!(
        refused.starts_with("claim_limit: claim limit reached: 2 claims today"),
        "{refused}"
    );
    // Someone else's customer: owned, named for a manager who sees the owner.
    let r2 = principal(&store, "r2").await;
    assert!(refusal_code(store.claim(&r2, &id("c1"), None, day(0)).await).starts_with("owned"));
    // Day 1: the A holding cap.
    store
        .claim(&r1, &id("a1"), None, day(1))
        .await
        .expect("claim a1");
    let refused = refusal_code(store.claim(&r1, &id("a2"), None, day(1)).await);
    assert!(refused.contains("1 of 1 A customers"), "{refused}");
    // Releasing someone else's customer is not_owner.
    assert!(
        refusal_code(store.release(&r2, &id("c1"), "不需要", day(1)).await)
            .starts_with("not_found")
            || refusal_code(store.release(&r2, &id("c1"), "不需要", day(1)).await)
                .starts_with("not_owner")
    );

    // An email does not reset the clock; a visit does.
    interaction(&store, "c1", "email", "sent", 3).await;
    interaction(&store, "c2", "visit", "met", 4).await;

    let mut warned_on = Days::new();
    let mut reclaimed_on = Days::new();
    for today in 0..=16 {
        tick_twice(&store, today, &mut warned_on, &mut reclaimed_on).await;
    }
    // c1: claimed day 0 (protected 5 days), C reclaims after 10, warned 3 days before.
    assert_eq!(warned_on.get("c1"), Some(&7));
    assert_eq!(reclaimed_on.get("c1"), Some(&10));
    // c2: visited on day 4, so its clock starts there.
    assert_eq!(warned_on.get("c2"), Some(&11));
    assert_eq!(reclaimed_on.get("c2"), Some(&14));
    assert!(!reclaimed_on.contains_key("a1"), "A reclaims after 30 days");
    assert_eq!(owner(&store, "c1").await, None);
    let warnings = store
        .list_notifications(&r1, false, 100)
        .await
        .expect("notifications");
    assert_eq!(
        warnings
            .iter()
            .filter(|n| n.kind == "reclaim_warning")
            .count(),
        2,
        "one warning each"
    );
    assert_eq!(warnings.iter().filter(|n| n.kind == "reclaimed").count(), 2);
    let events = store
        .list_events(&EventFilter {
            customer_id: Some(id("c1")),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("events");
    let kinds: Vec<Option<&str>> = events
        .iter()
        .map(|event| event.reason_kind.as_deref())
        .collect();
    assert_eq!(kinds, [Some("claim"), Some("reclaim")]);
    assert_eq!(events[1].actor, "system:reclaim");
    assert!(
        events[1].reason.contains("no real follow-up for 10 days"),
        "{}",
        events[1].reason
    );

    // Cooldown: reclaimed on day 10 (01-14), claimable from day 20 (01-24).
    let refused = refusal_code(store.claim(&r1, &id("c1"), None, day(19)).await);
    assert!(
        refused.contains("reclaimed from this rep on 01-14, claimable from 01-24"),
        "{refused}"
    );
    store
        .claim(&r1, &id("c1"), None, day(20))
        .await
        .expect("claim after cooldown");

    // A transfer of an A customer: two approvals (m1, then d1) and the new owner's acceptance.
    // Four emails (not real follow-ups, so no reclaim clock moves): the hand-over lists three.
    for on in 5..=8 {
        interaction(&store, "a1", "email", "sent", on).await;
    }
    let request = TransferRequest {
        customer_ids: vec![id("a1")],
        from: rep_id("r1"),
        to: TransferTarget::Rep(rep_id("r2")),
        reason_kind: TransferReason::CustomerRequest,
        text: "客户要求更换".to_string(),
    };
    let transfer = store
        .request_transfer(&r1, &request, day(21))
        .await
        .expect("request");
    assert_eq!(
        transfer.approvers,
        vec![Some("m1".to_string()), Some("d1".to_string())]
    );
    assert_eq!(transfer.waiting_for.as_deref(), Some("approver:rep:m1"));
    assert!(
        refusal_code(store.request_transfer(&r1, &request, day(21)).await)
            .starts_with("open_transfer")
    );
    assert!(
        refusal_code(store.approve_transfer(&r2, transfer.id, "", day(21)).await)
            .starts_with("forbidden")
    );
    let m1 = principal(&store, "m1").await;
    let d1 = principal(&store, "d1").await;
    let step = store
        .approve_transfer(&m1, transfer.id, "同意", day(21))
        .await
        .expect("m1 approves");
    assert_eq!(step.state, "requested");
    assert_eq!(step.waiting_for.as_deref(), Some("approver:rep:d1"));
    let step = store
        .approve_transfer(&d1, transfer.id, "", day(22))
        .await
        .expect("d1 approves");
    assert_eq!(step.state, "approved");
    let handover = step
        .handover
        .as_ref()
        .expect("the hand-over checklist is made on approval");
    assert_eq!(handover["from"], "r1", "{handover}");
    let entry = &handover["customers"][0];
    assert_eq!(entry["customer_id"], "a1", "{handover}");
    let newest: Vec<&str> = entry["last_interactions"]
        .as_array()
        .expect("last interactions")
        .iter()
        .map(|touch| touch["at"].as_str().expect("at"))
        .collect();
    assert_eq!(
        newest,
        [8, 7, 6].map(|on| allot_store::StoredTime(day(on).now()).text()),
        "{handover}"
    );
    assert_eq!(entry["purchases"], 0, "{handover}");
    assert_eq!(
        owner(&store, "a1").await.as_deref(),
        Some("r1"),
        "only acceptance moves it"
    );
    let step = store
        .accept_transfer(&r2, transfer.id, "收到", day(22))
        .await
        .expect("accept");
    assert_eq!(step.state, "accepted");
    assert_eq!(owner(&store, "a1").await.as_deref(), Some("r2"));
    // The old owner reads it for handover_read_days, then no longer.
    let view = store.view_of(&r1, day(25)).await.expect("view");
    store
        .customer_in_view(&view, &id("a1"))
        .await
        .expect("old owner still reads a1");
    let view = store.view_of(&r1, day(30)).await.expect("view");
    assert!(store.customer_in_view(&view, &id("a1")).await.is_err());

    // Departure: r2 leaves; everything goes to r1, r2's tokens stop at once.
    let token = store
        .create_token("phone", Some(&rep_id("r2")), day(23))
        .await
        .expect("token");
    assert!(store.verify_token(&token).await.expect("verify").is_some());
    let admin = Principal::Admin {
        token_id: "test".to_string(),
    };
    let summary = store
        .deactivate_rep(&admin, &rep_id("r2"), Some(&rep_id("r1")), day(23))
        .await
        .expect("deactivate");
    assert_eq!(summary.customers, 1);
    assert_eq!(summary.moved_to.get("r1"), Some(&1));
    assert_eq!(owner(&store, "a1").await.as_deref(), Some("r1"));
    assert!(store.verify_token(&token).await.expect("verify").is_none());
    let reps = store.list_reps().await.expect("reps");
    for state in &reps {
        let owned = store
            .list_customers(&allot_store::customers::CustomerFilter {
                owner_id: Some(state.rep.id.clone()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("customers")
            .total;
        assert_eq!(
            i64::from(state.load.owned_count),
            owned,
            "load of {}",
            state.rep.id
        );
    }
    // Days 24 to 90, a tick each: c1 (claimed again on day 20, C) is reclaimed on day 30; b1
    // (claimed on day 24, B after 20 days) is visited on day 30, so warned on 47 and reclaimed on
    // 50, an email on day 40 changing nothing; a1 (r1's since the departure on day 23, A after
    // 30) is warned on 50 and reclaimed on 53; b1's cooldown ends on day 60.
    store
        .claim(&r1, &id("b1"), None, day(24))
        .await
        .expect("claim b1");
    interaction(&store, "b1", "visit", "met", 30).await;
    interaction(&store, "b1", "email", "sent", 40).await;
    let mut warned_on = Days::new();
    let mut reclaimed_on = Days::new();
    for today in 24..=90 {
        if today == 59 {
            let refused = refusal_code(store.claim(&r1, &id("b1"), None, day(59)).await);
            assert!(refused.starts_with("cooldown"), "{refused}");
        }
        if today == 60 {
            store
                .claim(&r1, &id("b1"), None, day(60))
                .await
                .expect("claim b1 after its cooldown");
        }
        tick_twice(&store, today, &mut warned_on, &mut reclaimed_on).await;
    }
    assert_eq!(warned_on.get("c1"), Some(&27), "{warned_on:?}");
    assert_eq!(reclaimed_on.get("c1"), Some(&30), "{reclaimed_on:?}");
    assert_eq!(warned_on.get("b1"), Some(&47), "{warned_on:?}");
    assert_eq!(reclaimed_on.get("b1"), Some(&50), "{reclaimed_on:?}");
    assert_eq!(warned_on.get("a1"), Some(&50), "{warned_on:?}");
    assert_eq!(reclaimed_on.get("a1"), Some(&53), "{reclaimed_on:?}");
    // b1, claimed again on day 60 and never followed up, goes back on day 80.
    assert_eq!(owner(&store, "b1").await, None);
    let b1_events: Vec<Option<String>> = store
        .list_events(&EventFilter {
            customer_id: Some(id("b1")),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("events")
        .into_iter()
        .map(|event| event.reason_kind)
        .collect();
    assert_eq!(
        b1_events,
        ["claim", "reclaim", "claim", "reclaim"].map(|kind| Some(kind.to_string()))
    );
}

/// 100 reps race for one customer: one owner, one event. One rep one short of its capacity
/// races for 100 customers: it ends at its capacity. The racers share two stores (as two
/// servers would): claims through one store are judged together in groups, and the two
/// stores' groups take turns under the write lock.
async fn racing_claims(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    let other_store = Store::connect(&database.url).await.expect("second store");
    organisation(&store, "").await;
    for index in 0..100 {
        rep(&store, &format!("x{index:02}"), "sales", "rep", None).await;
    }
    rep(&store, "capped", "sales", "rep", Some(3)).await;
    customer(&store, "prize", "C").await;
    for index in 0..102 {
        customer(&store, &format!("p{index:03}"), "C").await;
    }
    let capped = principal(&store, "capped").await;
    store
        .claim(&capped, &id("p100"), None, day(0))
        .await
        .expect("first");
    store
        .claim(&capped, &id("p101"), None, day(0))
        .await
        .expect("second");

    let mut racers = Vec::new();
    // 100 reps race for one customer; the rep one below its cap races 100 claims of its own.
    let either = |index: usize| {
        if index.is_multiple_of(2) {
            store.clone()
        } else {
            other_store.clone()
        }
    };
    for index in 0..100 {
        let store = either(index);
        racers.push(tokio::spawn(async move {
            let who = store
                .principal_of_rep(&rep_id(&format!("x{index:02}")))
                .await
                .unwrap();
            store.claim(&who, &id("prize"), None, day(0)).await.is_ok()
        }));
    }
    for index in 0..100 {
        let store = either(index);
        let capped = capped.clone();
        racers.push(tokio::spawn(async move {
            store
                .claim(&capped, &id(&format!("p{index:03}")), None, day(0))
                .await
                .is_ok()
        }));
    }
    let mut wins = 0;
    for racer in racers {
        if racer.await.expect("racer") {
            wins += 1;
        }
    }
    assert_eq!(wins, 2, "one claim of the prize, one up to the cap");
    let events = store
        .list_events(&EventFilter {
            customer_id: Some(id("prize")),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    let capped_state = store.get_rep(&rep_id("capped")).await.expect("rep");
    assert_eq!(capped_state.load.owned_count, 3);
}

/// A hand-over accepted after one of its customers changed owner by another way writes
/// nothing: the customers keep their owners, the transfer waits, and the error names the one.
async fn an_owner_changed_meanwhile_stops_the_whole_step(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, "").await;
    rep(&store, "r3", "sales", "rep", None).await;
    let r1 = principal(&store, "r1").await;
    let r2 = principal(&store, "r2").await;
    let m1 = principal(&store, "m1").await;
    for customer_id in ["t1", "t2", "t3"] {
        customer(&store, customer_id, "C").await;
        store
            .claim(&r1, &id(customer_id), None, day(0))
            .await
            .expect("claim");
    }
    let request = TransferRequest {
        customer_ids: vec![id("t1"), id("t2"), id("t3")],
        from: rep_id("r1"),
        to: TransferTarget::Rep(rep_id("r2")),
        reason_kind: TransferReason::CustomerRequest,
        text: "客户要求".to_string(),
    };
    let transfer = store
        .request_transfer(&r1, &request, day(1))
        .await
        .expect("request");
    store
        .approve_transfer(&m1, transfer.id, "", day(1))
        .await
        .expect("approve");
    // Behind the transfer's back (as a second writer with its own rules could).
    store
        .execute_for_test("UPDATE customers SET owner_id = 'r3' WHERE id = 't2'")
        .await
        .expect("owner changed");
    match store.accept_transfer(&r2, transfer.id, "", day(2)).await {
        Err(StoreError::Conflict { message, .. }) => {
            assert!(message.contains("customer t2 changed owner"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    for (customer_id, expected) in [("t1", "r1"), ("t2", "r3"), ("t3", "r1")] {
        assert_eq!(owner(&store, customer_id).await.as_deref(), Some(expected));
    }
    let shown = store
        .get_transfer(
            &Principal::Admin {
                token_id: "test".to_string(),
            },
            transfer.id,
        )
        .await
        .expect("transfer");
    assert_eq!(shown.state, "approved");
}

test_on_both_backends! {
    pool_lifecycle => super::pool_lifecycle;
    racing_claims => super::racing_claims;
    an_owner_changed_meanwhile_stops_the_whole_step => super::an_owner_changed_meanwhile_stops_the_whole_step;
}
