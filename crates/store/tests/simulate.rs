//! Simulating a rules change on both backends: what it reports, that it writes nothing (the
//! SQLite file byte for byte, PostgreSQL row for row), and that its pool placements are what
//! setting the rules and routing then decides.

mod common;

use std::collections::BTreeMap;

use allot_core::simulate::SimulationScope;
use allot_core::CustomerFields;
use allot_store::lifecycle::View;
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store, StoreError};
use common::{day, rep, team};
use serde_json::json;

const CURRENT: &str = r#"
[[rule]]
name = "north"
when = 'region ^= "北京"'
to = { team = "n" }
strategy = "least_loaded"

[[rule]]
name = "south"
when = 'region ^= "广东"'
to = { team = "s" }
strategy = "round_robin"
"#;

/// The north's customers go south; Shanghai, which no rule took, goes north.
const PROPOSED: &str = r#"
[[rule]]
name = "south"
when = 'region ^= "广东" or region ^= "北京"'
to = { team = "s" }
strategy = "round_robin"

[[rule]]
name = "shanghai"
when = 'region ^= "上海"'
to = { team = "n" }
strategy = "least_loaded"
"#;

async fn customer_in(store: &Store, id: &str, region: &str, on_day: i64) {
    let fields = serde_json::from_value::<CustomerFields>(json!({
        "id": id, "name": format!("客户 {id}"), "region": region,
    }))
    .expect("customer fields");
    let given = fields.given_columns();
    store
        .put_customer(fields, &given, "test", day(on_day), true)
        .await
        .expect("customer");
}

/// Teams n (reps n1, n2) and s (s1, s2) under hq; four customers routed by `CURRENT`, then four
/// more left in the pool (two in Shanghai, which no current rule takes).
async fn organisation(store: &Store) {
    team(store, "hq", None, None).await;
    team(store, "n", Some("hq"), None).await;
    team(store, "s", Some("hq"), None).await;
    for (id, team) in [("n1", "n"), ("n2", "n"), ("s1", "s"), ("s2", "s")] {
        rep(store, id, team, "rep", None).await;
    }
    store
        .set_rules(CURRENT, "test", day(0))
        .await
        .expect("rules");
    for (id, region) in [
        ("c1", "北京/朝阳"),
        ("c2", "北京/海淀"),
        ("c3", "广东/深圳"),
        ("c4", "广东/广州"),
    ] {
        customer_in(store, id, region, 0).await;
    }
    store
        .route_pool(day(0), "test", false, &|_| {})
        .await
        .expect("route");
    for (id, region) in [
        ("p1", "上海/浦东"),
        ("p2", "北京/东城"),
        ("p3", "上海/徐汇"),
        ("p4", "广东/佛山"),
    ] {
        customer_in(store, id, region, 1).await;
    }
}

/// An owner change as (customer, from, to, old rule, new rule).
type Move<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// The SQLite database's files, byte for byte (none on PostgreSQL).
fn sqlite_files(database: &TestDatabase) -> BTreeMap<String, Vec<u8>> {
    let Some(path) = database.url.strip_prefix("sqlite://") else {
        return BTreeMap::new();
    };
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let file = format!("{path}{suffix}");
            std::fs::read(&file).ok().map(|bytes| (file, bytes))
        })
        .collect()
}

async fn simulating_writes_nothing_and_reports_the_moves(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store).await;
    let rows_before = store.table_rows_for_test().await.expect("rows");
    let files_before = sqlite_files(&database);

    let report = store
        .simulate_rules(
            PROPOSED,
            SimulationScope::All,
            &View::everything(day(2)),
            100,
            day(2),
        )
        .await
        .expect("simulate");

    assert_eq!(
        store.table_rows_for_test().await.expect("rows"),
        rows_before
    );
    assert_eq!(sqlite_files(&database), files_before);

    assert_eq!(report.owned_considered, 4);
    assert_eq!(report.owned_kept, 2, "the south keeps its customers");
    let moves: Vec<Move<'_>> = report
        .owner_changes
        .iter()
        .map(|change| {
            (
                change.customer_id.as_str(),
                change.from_rep_id.as_str(),
                change.to_rep_id.as_deref(),
                change.old_rule.as_deref(),
                change.new_rule.as_deref(),
            )
        })
        .collect();
    assert_eq!(moves.len(), 2);
    for (customer, from, to, old_rule, new_rule) in moves {
        assert!(customer == "c1" || customer == "c2", "{customer}");
        assert!(from.starts_with('n'), "{from}");
        assert!(to.is_some_and(|to| to.starts_with('s')), "{to:?}");
        assert_eq!((old_rule, new_rule), (Some("north"), Some("south")));
    }
    assert_eq!(report.pool_considered, 4);
    assert_eq!(report.pool_placed_total, 4);
    let north = report
        .teams
        .iter()
        .find(|team| team.team_id == "n")
        .expect("team n");
    assert_eq!(
        (north.change.owned_before, north.change.owned_after),
        (2, 2)
    );
    let south = report
        .teams
        .iter()
        .find(|team| team.team_id == "s")
        .expect("team s");
    assert_eq!(
        (south.change.owned_before, south.change.owned_after),
        (2, 6)
    );
    assert_eq!(
        (report.overall.owned_before, report.overall.owned_after),
        (4, 8)
    );
    assert!(report.reps_over_cap.is_empty());

    // A manager of n sees the moves of n's customers and the fairness of n alone.
    let view = View {
        reps: Some(vec!["n1".to_string(), "n2".to_string()]),
        handover_since: day(2).now(),
    };
    let for_manager = store
        .simulate_rules(PROPOSED, SimulationScope::Owned, &view, 100, day(2))
        .await
        .expect("simulate as manager");
    assert_eq!(for_manager.owned_considered, 2);
    assert_eq!(for_manager.owner_changes_total, 2);
    let teams: Vec<&str> = for_manager
        .teams
        .iter()
        .map(|team| team.team_id.as_str())
        .collect();
    assert_eq!(teams, vec!["n"]);
}

async fn the_pool_is_placed_as_setting_the_rules_and_routing_places_it(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store).await;
    let report = store
        .simulate_rules(
            PROPOSED,
            SimulationScope::Pool,
            &View::everything(day(2)),
            100,
            day(2),
        )
        .await
        .expect("simulate");
    assert_eq!(report.owned_considered, 0);
    let simulated: BTreeMap<String, String> = report
        .pool_placed
        .iter()
        .map(|placed| (placed.customer_id.clone(), placed.to_rep_id.clone()))
        .collect();

    store
        .set_rules(PROPOSED, "test", day(2))
        .await
        .expect("rules");
    let run = store
        .route_pool(day(2), "test", false, &|_| {})
        .await
        .expect("route");
    assert_eq!(run.summary.routed, report.pool_placed_total);
    let mut routed = BTreeMap::new();
    for id in ["p1", "p2", "p3", "p4"] {
        if let Some(owner) = common::owner(&store, id).await {
            routed.insert(id.to_string(), owner);
        }
    }
    assert_eq!(routed, simulated);
    assert_eq!(routed.len(), 4);
}

async fn bad_rules_are_refused_with_their_problems(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store).await;
    let unknown_team = PROPOSED.replace("team = \"n\"", "team = \"nowhere\"");
    let error = store
        .simulate_rules(
            &unknown_team,
            SimulationScope::All,
            &View::everything(day(2)),
            100,
            day(2),
        )
        .await
        .expect_err("unknown team");
    match error {
        StoreError::Rules(problems) => {
            assert!(
                problems
                    .iter()
                    .any(|problem| problem.to_string().contains("nowhere")),
                "{problems:?}"
            );
        }
        other => panic!("expected rule problems, got {other:?}"),
    }
}

test_on_both_backends! {
    simulating_writes_nothing_and_reports_the_moves => super::simulating_writes_nothing_and_reports_the_moves;
    the_pool_is_placed_as_setting_the_rules_and_routing_places_it => super::the_pool_is_placed_as_setting_the_rules_and_routing_places_it;
    bad_rules_are_refused_with_their_problems => super::bad_rules_are_refused_with_their_problems;
}
