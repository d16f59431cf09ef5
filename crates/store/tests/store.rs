//! Storage invariants on both backends: engine caching across processes, loads equal to
//! ownership counts, and the append-only event log enforced by the database.

use allot_core::clock::Clock;
use allot_core::input::{RepFields, TeamFields};
use allot_core::update::GivenColumns;
use allot_core::{CustomerFields, Rep};
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store};
use serde_json::json;

fn clock() -> Clock {
    Clock::parse("2026-11-25T09:00:00Z").expect("clock")
}

fn rep(id: &str, active: bool) -> Rep {
    serde_json::from_value::<RepFields>(json!({
        "id": id, "name": id, "email": format!("{id}@example.com"), "team_id": "sales",
        "role": "rep", "level": "mid", "active": if active { "true" } else { "false" },
    }))
    .expect("rep fields")
    .into_rep()
    .expect("rep")
}

fn customer(id: &str) -> CustomerFields {
    serde_json::from_value::<CustomerFields>(json!({
        "id": id, "name": format!("客户 {id}"), "region": "广东/深圳", "tier": "B",
    }))
    .expect("customer fields")
}

/// A team with reps r1 and r2 and one round-robin rule over it.
async fn organisation(store: &Store) {
    let team = serde_json::from_value::<TeamFields>(json!({"id": "sales", "name": "销售部"}))
        .expect("team fields")
        .into_team()
        .expect("team");
    store
        .put_team(&team, &GivenColumns::all(TeamFields::COLUMNS))
        .await
        .expect("team");
    store
        .put_rep(&rep("r1", true), &GivenColumns::all(RepFields::COLUMNS))
        .await
        .expect("r1");
    store
        .put_rep(&rep("r2", true), &GivenColumns::all(RepFields::COLUMNS))
        .await
        .expect("r2");
    store
        .set_rules(
            "[[rule]]\nname = \"all\"\nwhen = 'true'\nto = { team = \"sales\" }\nstrategy = \"round_robin\"\n",
            "test",
            clock(),
        )
        .await
        .expect("rules");
}

async fn owner_after_route(store: &Store, id: &str) -> Option<String> {
    let fields = customer(id);
    let given = fields.given_columns();
    store
        .route_one(fields, &given, clock(), "test")
        .await
        .expect("route")
        .decision
        .owner_id
}

/// Two handles on one database stand for two `allot serve` processes: a change made through
/// one must reach the other's cached routing engine.
async fn cached_engine_sees_changes_from_another_process(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let first = Store::connect(&database.url).await.expect("first");
    let second = Store::connect(&database.url).await.expect("second");
    organisation(&first).await;

    assert_eq!(owner_after_route(&first, "c1").await.as_deref(), Some("r1"));
    // The other process continues the same rotation: strategy state lives in the database.
    assert_eq!(
        owner_after_route(&second, "c2").await.as_deref(),
        Some("r2")
    );
    assert_eq!(owner_after_route(&first, "c3").await.as_deref(), Some("r1"));

    second
        .put_rep(&rep("r2", false), &GivenColumns::all(RepFields::COLUMNS))
        .await
        .expect("deactivate r2");
    assert_eq!(owner_after_route(&first, "c4").await.as_deref(), Some("r1"));
    assert_eq!(owner_after_route(&first, "c5").await.as_deref(), Some("r1"));

    second
        .put_rep(&rep("r1", false), &GivenColumns::all(RepFields::COLUMNS))
        .await
        .expect("deactivate r1");
    assert_eq!(owner_after_route(&first, "c6").await, None);

    // Loads written through the cache match the customers each rep owns.
    let reps = second.list_reps().await.expect("reps");
    let owned: Vec<(String, u32)> = reps
        .iter()
        .map(|rep| (rep.rep.id.to_string(), rep.load.owned_count))
        .collect();
    assert_eq!(owned, vec![("r1".to_string(), 4), ("r2".to_string(), 1)]);
    let events = second
        .list_events(&allot_store::events::EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 5, "one ownership event per routed customer");
}

/// A request rejected inside its routing transaction changes neither loads nor the rotation.
async fn rejected_request_leaves_routing_unchanged(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store).await;
    assert_eq!(owner_after_route(&store, "c1").await.as_deref(), Some("r1"));
    let mut orphan = customer("c2");
    orphan
        .set("parent_id", "missing".to_string())
        .expect("column");
    let given = orphan.given_columns();
    let error = store
        .route_one(orphan, &given, clock(), "test")
        .await
        .expect_err("unknown parent");
    assert!(error.to_string().contains("missing"), "{error}");
    assert_eq!(owner_after_route(&store, "c3").await.as_deref(), Some("r2"));
    let reps = store.list_reps().await.expect("reps");
    assert!(reps.iter().all(|rep| rep.load.owned_count == 1));
}

async fn events_cannot_be_changed_or_deleted(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store).await;
    owner_after_route(&store, "c1").await;
    for statement in [
        "UPDATE events SET reason = 'rewritten'",
        "DELETE FROM events",
    ] {
        let result = store.execute_for_test(statement).await;
        let error = result.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    let events = store
        .list_events(&allot_store::events::EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
}

test_on_both_backends! {
    cached_engine_sees_changes_from_another_process => super::cached_engine_sees_changes_from_another_process;
    rejected_request_leaves_routing_unchanged => super::rejected_request_leaves_routing_unchanged;
    events_cannot_be_changed_or_deleted => super::events_cannot_be_changed_or_deleted;
}
