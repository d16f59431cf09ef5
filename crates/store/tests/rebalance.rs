//! Rebalancing on both backends: a plan writes nothing; applying it opens transfers of kind
//! `rebalance` through approval, or (admin, no approval) moves the owners with one event each;
//! managers plan for their subtree only, reps not at all; and `tick` relieves an overloaded rep.

mod common;

use std::collections::BTreeSet;

use allot_core::access::Principal;
use allot_core::CustomerFields;
use allot_store::lifecycle::rebalance::{RebalanceApproval, RebalanceRequest};
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store, StoreError};
use common::{day, owner, principal, rep, team};
use serde_json::json;

const RULES: &str = r#"
[[rule]]
name = "all"
when = 'true'
to = { team = "sales" }
strategy = "least_loaded"
"#;

fn admin() -> Principal {
    Principal::Admin {
        token_id: "test".to_string(),
    }
}

/// hq (director d1) ⊃ sales (manager m1; reps r1, r2, r3) and other (rep o1); r1 owns 30
/// customers, r2 and r3 none; o1 owns 2.
async fn organisation(store: &Store, policy: &str) {
    common::organisation(store, policy).await;
    rep(store, "r3", "sales", "rep", None).await;
    team(store, "other", Some("hq"), None).await;
    rep(store, "o1", "other", "rep", None).await;
    store.set_rules(RULES, "test", day(0)).await.expect("rules");
    let owned = (0..30)
        .map(|index| (format!("c{index:02}"), "r1"))
        .chain([("x1".to_string(), "o1"), ("x2".to_string(), "o1")]);
    for (id, owner) in owned {
        let fields = serde_json::from_value::<CustomerFields>(json!({
            "id": id, "name": format!("客户 {id}"), "region": "广东/深圳", "owner_id": owner,
        }))
        .expect("customer fields");
        let given = fields.given_columns();
        store
            .put_customer(fields, &given, "test", day(0), true)
            .await
            .expect("customer");
    }
}

/// The test policy with an overload threshold of 1.5 × the team's mean, 5 candidates a rep, and
/// `action` (`propose` or `move`).
fn overload_policy(action: &str) -> String {
    format!(
        "{}\n[rebalance]\noverload_threshold = 1.5\noverload_candidates = 5\noverload_action = \"{action}\"\n",
        common::POLICY
    )
}

fn request(team: Option<&str>) -> RebalanceRequest {
    RebalanceRequest {
        team: team.map(|team| allot_core::TeamId::parse(team).expect("team")),
        ..RebalanceRequest::default()
    }
}

async fn a_plan_writes_nothing_and_evens_the_team(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, common::POLICY).await;
    let rows_before = store.table_rows_for_test().await.expect("rows");

    let plan = store
        .plan_rebalance(&admin(), &request(Some("sales")), day(1))
        .await
        .expect("plan");
    assert_eq!(
        store.table_rows_for_test().await.expect("rows"),
        rows_before
    );
    assert_eq!(plan.method, "min_cost_flow");
    assert_eq!(
        plan.customers_considered, 30,
        "o1's customers are outside sales"
    );
    assert!(plan.moves_total >= 10, "{} moves", plan.moves_total);
    assert!(plan.moves.iter().all(|planned| planned.from_rep_id == "r1"));
    assert!(plan.objective_after.total < plan.objective_before.total);
    let gini = |summary: &allot_core::fairness::FairnessSummary| summary.gini.expect("gini");
    assert!(gini(&plan.overall.after) < gini(&plan.overall.before));

    let limited = RebalanceRequest {
        max_moves: Some(3),
        ..request(Some("sales"))
    };
    let plan = store
        .plan_rebalance(&admin(), &limited, day(1))
        .await
        .expect("plan");
    assert_eq!(plan.moves_total, 3);
    assert!(plan.max_moves_met);

    let unknown = store
        .plan_rebalance(&admin(), &request(Some("nope")), day(1))
        .await;
    assert!(
        matches!(&unknown, Err(StoreError::Invalid(error)) if error.field == "team"),
        "{unknown:?}"
    );
}

async fn managers_plan_their_subtree_and_reps_cannot(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, common::POLICY).await;
    let manager = principal(&store, "m1").await;
    let plan = store
        .plan_rebalance(&manager, &request(None), day(1))
        .await
        .expect("plan");
    let reps: BTreeSet<&str> = plan
        .moves
        .iter()
        .flat_map(|planned| [planned.from_rep_id.as_str(), planned.to_rep_id.as_str()])
        .collect();
    assert!(!reps.contains("o1"), "{reps:?}");
    assert_eq!(plan.customers_considered, 30);
    let rep = principal(&store, "r2").await;
    assert!(matches!(
        store.plan_rebalance(&rep, &request(None), day(1)).await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store
            .apply_rebalance(&manager, &request(None), RebalanceApproval::Direct, day(1))
            .await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn applying_opens_transfers_or_moves_with_events(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, common::POLICY).await;

    let applied = store
        .apply_rebalance(
            &admin(),
            &RebalanceRequest {
                max_moves: Some(4),
                ..request(Some("sales"))
            },
            RebalanceApproval::Transfers,
            day(1),
        )
        .await
        .expect("apply");
    assert_eq!(applied.plan.moves_total, 4);
    assert!(!applied.transfer_ids.is_empty());
    for id in &applied.transfer_ids {
        let transfer = store.get_transfer(&admin(), *id).await.expect("transfer");
        assert_eq!(transfer.reason_kind, "rebalance");
        assert_eq!(transfer.from, "r1");
    }
    // Nothing moved yet: the transfers wait for approval.
    for planned in &applied.plan.moves {
        assert_eq!(
            owner(&store, &planned.customer_id).await.as_deref(),
            Some("r1")
        );
    }
    // A second plan leaves customers in open transfers where they are.
    let again = store
        .plan_rebalance(&admin(), &request(Some("sales")), day(1))
        .await
        .expect("plan");
    let in_transfer: BTreeSet<&str> = applied
        .plan
        .moves
        .iter()
        .map(|planned| planned.customer_id.as_str())
        .collect();
    assert!(again
        .moves
        .iter()
        .all(|planned| !in_transfer.contains(planned.customer_id.as_str())));

    let direct = store
        .apply_rebalance(
            &admin(),
            &request(Some("sales")),
            RebalanceApproval::Direct,
            day(2),
        )
        .await
        .expect("apply");
    assert!(direct.moved > 0);
    assert_eq!(direct.moved, direct.plan.moves_total);
    for planned in &direct.plan.moves {
        assert_eq!(
            owner(&store, &planned.customer_id).await.as_deref(),
            Some(planned.to_rep_id.as_str())
        );
        let event = store
            .latest_event(&common::id(&planned.customer_id))
            .await
            .expect("event")
            .expect("an event");
        assert_eq!(event.reason_kind.as_deref(), Some("rebalance"));
        assert_eq!(event.to_rep_id.as_deref(), Some(planned.to_rep_id.as_str()));
        assert_eq!(event.actor, "admin:test");
    }
    let loads = store.workload_report(day(2), None).await.expect("workload");
    let r1 = loads
        .reps
        .iter()
        .find(|rep| rep.rep_id == "r1")
        .expect("r1");
    assert_eq!(r1.owned_count as usize, 30 - direct.moved);
}

async fn tick_relieves_an_overloaded_rep(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, &overload_policy("propose")).await;
    let summary = store.tick(day(1), "test", false).await.expect("tick");
    let overload = summary.overload.expect("the overload job ran");
    assert_eq!(overload.overloaded_reps, vec!["r1".to_string()]);
    assert_eq!(overload.action, "propose");
    assert!(
        (1..=5).contains(&overload.moves),
        "{} moves",
        overload.moves
    );
    assert!(!overload.transfer_ids.is_empty());
    let transfer = store
        .get_transfer(&admin(), overload.transfer_ids[0])
        .await
        .expect("transfer");
    assert_eq!(transfer.reason_kind, "rebalance");
    assert_eq!(transfer.requested_by, "system:overload");
    assert!(overload.waiting_reps.is_empty());
    let proposed = overload.transfer_ids.clone();
    // Once a day.
    let again = store.tick(day(1), "test", false).await.expect("tick");
    assert!(again.overload.is_none());
    // The next day r1 is still overloaded, but its relief waits for the manager: nothing more
    // is proposed until that is decided.
    let waiting = store.tick(day(2), "test", false).await.expect("tick");
    let overload = waiting.overload.expect("the overload job ran");
    assert_eq!(overload.overloaded_reps, vec!["r1".to_string()]);
    assert_eq!(overload.waiting_reps, vec!["r1".to_string()]);
    assert_eq!(overload.moves, 0);
    assert!(overload.transfer_ids.is_empty());
    for id in proposed {
        store
            .cancel_transfer(&admin(), id, "not this month", day(2))
            .await
            .expect("cancel");
    }

    store
        .set_value_policy(&overload_policy("move"), "test", day(3))
        .await
        .expect("policy");
    let summary = store.tick(day(3), "test", false).await.expect("tick");
    let overload = summary.overload.expect("the overload job ran");
    assert!(overload.waiting_reps.is_empty());
    assert_eq!(overload.action, "move");
    assert!(overload.moves >= 1);
    assert!(overload.transfer_ids.is_empty());
}

/// Two reps overloaded, one with earlier relief still open: the job plans for the other.
async fn tick_relieves_the_rep_not_already_waiting(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, &overload_policy("propose")).await;
    let first = store.tick(day(1), "test", false).await.expect("tick");
    let first = first.overload.expect("the overload job ran");
    assert_eq!(first.overloaded_reps, vec!["r1".to_string()]);
    assert!(!first.transfer_ids.is_empty());
    // r2 takes over a book as large as r1's: the team's mean is 15, both pass 1.5 × 15.
    for index in 0..30 {
        let fields = serde_json::from_value::<CustomerFields>(json!({
            "id": format!("y{index:02}"), "name": format!("客户 y{index:02}"),
            "region": "广东/深圳", "owner_id": "r2",
        }))
        .expect("customer fields");
        let given = fields.given_columns();
        store
            .put_customer(fields, &given, "test", day(2), true)
            .await
            .expect("customer");
    }
    let second = store.tick(day(2), "test", false).await.expect("tick");
    let second = second.overload.expect("the overload job ran");
    assert_eq!(
        second.overloaded_reps,
        vec!["r1".to_string(), "r2".to_string()]
    );
    assert_eq!(second.waiting_reps, vec!["r1".to_string()]);
    assert!((1..=5).contains(&second.moves), "{} moves", second.moves);
    assert!(!second.transfer_ids.is_empty());
    for id in second.transfer_ids {
        let transfer = store.get_transfer(&admin(), id).await.expect("transfer");
        assert_eq!(transfer.from, "r2");
        assert!(transfer
            .customer_ids
            .iter()
            .all(|customer| customer.starts_with('y')));
    }
}

test_on_both_backends! {
    tick_relieves_the_rep_not_already_waiting => super::tick_relieves_the_rep_not_already_waiting;
    a_plan_writes_nothing_and_evens_the_team => super::a_plan_writes_nothing_and_evens_the_team;
    managers_plan_their_subtree_and_reps_cannot => super::managers_plan_their_subtree_and_reps_cannot;
    applying_opens_transfers_or_moves_with_events => super::applying_opens_transfers_or_moves_with_events;
    tick_relieves_an_overloaded_rep => super::tick_relieves_an_overloaded_rep;
}
