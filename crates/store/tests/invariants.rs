//! The store's invariants on both backends: they hold after routing, claims, releases and
//! manual moves, and each check names what breaks it when the tables are made to disagree
//! behind the store's back.

mod common;

use allot_core::access::Principal;
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store};
use common::{day, id, rep_id};

const RULES: &str = r#"
[[rule]]
name = "all"
when = 'true'
to = { team = "sales" }
strategy = "round_robin"
"#;

fn admin() -> Principal {
    Principal::Admin {
        token_id: "test".to_string(),
    }
}

/// The violations of the check named `name`, and its examples.
fn violations(report: &allot_store::invariants::InvariantReport, name: &str) -> (i64, Vec<String>) {
    let check = report
        .checks
        .iter()
        .find(|check| check.name == name)
        .unwrap_or_else(|| panic!("no check {name}"));
    (check.violations, check.examples.clone())
}

async fn invariants_hold_through_ownership_changes_and_catch_drift(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("connect");
    common::organisation(&store, common::POLICY).await;
    store.set_rules(RULES, "test", day(0)).await.expect("rules");
    for index in 0..6 {
        common::customer(&store, &format!("c{index}"), "B").await;
    }
    let report = store.check_invariants().await.expect("check");
    assert!(report.holds, "{report:#?}");
    store
        .route_pool(day(1), "test", false, &|_| {})
        .await
        .expect("route");
    store
        .release(&admin(), &id("c0"), "客户要求换人", day(2))
        .await
        .expect("release");
    store
        .claim(&admin(), &id("c0"), Some(&rep_id("r2")), day(2))
        .await
        .expect("claim");
    store
        .release(&admin(), &id("c1"), "暂停跟进", day(2))
        .await
        .expect("release");
    let report = store.check_invariants().await.expect("check");
    assert!(report.holds, "{report:#?}");
    assert_eq!(report.checks.len(), 6);

    // A stored count that no longer recounts.
    store
        .execute_for_test("UPDATE reps SET owned_count = owned_count + 1 WHERE id = 'r1'")
        .await
        .expect("tamper");
    let report = store.check_invariants().await.expect("check");
    assert!(!report.holds);
    assert_eq!(
        violations(&report, "loads_recount"),
        (1, vec!["r1".to_string()])
    );
    assert_eq!(violations(&report, "events_match_owners").0, 0);

    // An owner changed without its event: the owner no longer matches the log.
    store
        .execute_for_test("UPDATE customers SET owner_id = 'd1' WHERE id = 'c2'")
        .await
        .expect("tamper");
    let report = store.check_invariants().await.expect("check");
    assert_eq!(
        violations(&report, "events_match_owners"),
        (1, vec!["c2".to_string()])
    );
    assert_eq!(violations(&report, "events_chain").0, 0);

    // An event that does not start where the last one ended.
    store
        .execute_for_test(
            "INSERT INTO events (at, kind, customer_id, from_rep_id, to_rep_id, actor, reason) \
             VALUES ('2026-11-20T00:00:00Z', 'ownership.transferred', 'c3', 'd1', 'r1', 'test', 'forged')",
        )
        .await
        .expect("tamper");
    let report = store.check_invariants().await.expect("check");
    let (broken_chains, examples) = violations(&report, "events_chain");
    assert_eq!(broken_chains, 1);
    assert_eq!(examples, vec!["c3".to_string()]);
    assert!(violations(&report, "events_match_owners")
        .1
        .contains(&"c3".to_string()));
    // Owners that are not reps are refused by the schema itself.
    assert!(store
        .execute_for_test("UPDATE customers SET owner_id = 'ghost' WHERE id = 'c4'")
        .await
        .is_err());

    // A graded customer whose health row went missing.
    store
        .score_customers(day(3), "test", false)
        .await
        .expect("grade");
    let report = store.check_invariants().await.expect("check");
    assert_eq!(violations(&report, "values_have_health").0, 0);
    store
        .execute_for_test("DELETE FROM customer_health WHERE customer_id = 'c5'")
        .await
        .expect("tamper");
    let report = store.check_invariants().await.expect("check");
    assert_eq!(
        violations(&report, "values_have_health"),
        (1, vec!["c5".to_string()])
    );
}

test_on_both_backends! {
    invariants_hold_through_ownership_changes_and_catch_drift => super::invariants_hold_through_ownership_changes_and_catch_drift;
}
