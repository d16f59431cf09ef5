//! Helpers the lifecycle and conflict tests share: the clock by day, ids, and a small
//! organisation (hq with director d1 over sales with manager m1 and reps r1, r2).
#![allow(dead_code)]

use allot_core::access::Principal;
use allot_core::clock::Clock;
use allot_core::input::{RepFields, TeamFields};
use allot_core::update::GivenColumns;
use allot_core::{CustomerFields, CustomerId, RepId};
use allot_store::{Store, StoreError};
use chrono::Duration;
use serde_json::json;

/// Day `day` of the run, at 10:00 in Beijing.
pub fn day(day: i64) -> Clock {
    let start = Clock::parse("2027-01-04T10:00:00+08:00").expect("clock");
    Clock::parse(
        &(start.now() + Duration::days(day))
            .with_timezone(&start.offset())
            .to_rfc3339(),
    )
    .expect("clock")
}

pub fn id(raw: &str) -> CustomerId {
    CustomerId::parse(raw).expect("customer id")
}

pub fn rep_id(raw: &str) -> RepId {
    RepId::parse(raw).expect("rep id")
}

pub async fn team(store: &Store, id: &str, parent: Option<&str>, manager: Option<&str>) {
    let team = serde_json::from_value::<TeamFields>(
        json!({"id": id, "name": id, "parent_id": parent, "manager_id": manager}),
    )
    .expect("team fields")
    .into_team()
    .expect("team");
    store
        .put_team(&team, &GivenColumns::all(TeamFields::COLUMNS))
        .await
        .expect("team");
}

pub async fn rep(store: &Store, id: &str, team: &str, role: &str, capacity: Option<u32>) {
    let rep = serde_json::from_value::<RepFields>(json!({
        "id": id, "name": id, "email": format!("{id}@example.com"), "team_id": team,
        "role": role, "level": "mid", "capacity": capacity.map(|capacity| capacity.to_string()),
    }))
    .expect("rep fields")
    .into_rep()
    .expect("rep");
    store
        .put_rep(&rep, &GivenColumns::all(RepFields::COLUMNS))
        .await
        .expect("rep");
}

pub async fn customer(store: &Store, id: &str, tier: &str) {
    let fields = serde_json::from_value::<CustomerFields>(json!({
        "id": id, "name": format!("客户 {id}"), "region": "广东/深圳", "tier": tier,
    }))
    .expect("customer fields");
    let given = fields.given_columns();
    store
        .put_customer(fields, &given, "test", day(0), true)
        .await
        .expect("customer");
    // Overrides keep the tiers whatever the monthly re-grade computes.
    store
        .set_tier_override(
            &self::id(id),
            tier,
            "test",
            chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            "test",
            day(0),
        )
        .await
        .expect("override");
}

/// hq (director d1) ⊃ sales (manager m1) with reps r1, r2.
pub async fn organisation(store: &Store, policy: &str) {
    team(store, "hq", None, None).await;
    team(store, "sales", Some("hq"), None).await;
    rep(store, "d1", "hq", "manager", None).await;
    rep(store, "m1", "sales", "manager", None).await;
    team(store, "hq", None, Some("d1")).await;
    team(store, "sales", Some("hq"), Some("m1")).await;
    rep(store, "r1", "sales", "rep", None).await;
    rep(store, "r2", "sales", "rep", None).await;
    store
        .set_value_policy(policy, "test", day(0))
        .await
        .expect("policy");
}

pub const POLICY: &str = r#"
[pool]
claim_limit_per_day = 2
holding_cap = { A = 1 }
cooldown_days = 10
reclaim_after_days = { A = 30, B = 20, C = 10 }
warn_before_days = 3
protect_days_after_claim = 5
transfer_approval = { A = "two_levels" }
handover_read_days = 7
"#;

pub async fn principal(store: &Store, rep: &str) -> Principal {
    store
        .principal_of_rep(&rep_id(rep))
        .await
        .expect("principal")
}

pub async fn owner(store: &Store, customer: &str) -> Option<String> {
    store
        .get_customer(&id(customer))
        .await
        .expect("customer")
        .owner_id
        .map(|owner| owner.to_string())
}

pub fn refusal_code(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Denied { code, message }) => format!("{code}: {message}"),
        Err(StoreError::ClaimRefused(refusal)) => {
            format!("{}: {}", refusal.code(), refusal.message())
        }
        Err(StoreError::Forbidden(message)) => format!("forbidden: {message}"),
        Err(StoreError::NotFound { entity, .. }) => format!("not_found: {entity}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
