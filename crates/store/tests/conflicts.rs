//! 撞单 on both backends: a new customer that matches a stored one on its name, phone, email or
//! credit code — created through the API, imported, or routed — is kept in a conflict instead
//! of being created; the owner is told; the rep who brought it disputes with evidence; the
//! owner's manager keeps or moves (through a transfer the rep accepts); and the records merge.

use allot_core::update::GivenColumns;
use allot_core::CustomerFields;
use allot_store::customers::{CustomerWrite, OwnerChangeSource};
use allot_store::events::EventFilter;
use allot_store::imports::{BadRows, ImportRow};
use allot_store::lifecycle::conflicts::{ConflictDecision, ConflictFilter, Dispute};
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store, StoreError};
use serde_json::{json, Value};

mod common;
use common::*;

fn fields(value: Value) -> (CustomerFields, GivenColumns) {
    let fields = serde_json::from_value::<CustomerFields>(value).expect("customer fields");
    let given = fields.given_columns();
    (fields, given)
}

/// CU1 of r1: 深圳市腾讯计算机系统有限公司, its mobile and credit code.
async fn existing_customer(store: &Store) {
    let (fields, given) = fields(json!({
        "id": "CU1", "name": "深圳市腾讯计算机系统有限公司", "region": "广东/深圳",
        "phone": "+86 138-0013-8000", "credit_code": "91350100M000100Y43", "owner_id": "r1",
        "created_at": "2026-06-01T00:00:00Z",
    }));
    store
        .put_customer(fields, &given, "admin:test", day(0), true)
        .await
        .expect("CU1");
}

fn all_conflicts() -> ConflictFilter {
    ConflictFilter {
        limit: 1000,
        ..ConflictFilter::default()
    }
}

async fn conflicts_and_duplicates(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store, POLICY).await;
    existing_customer(&store).await;
    let admin = allot_core::access::Principal::Admin {
        token_id: "test".to_string(),
    };
    let (r1, r2, m1) = (
        principal(&store, "r1").await,
        principal(&store, "r2").await,
        principal(&store, "m1").await,
    );

    // r2 creates the same company under another spelling: not created, a conflict instead.
    let (fields_of_cu9, given) = fields(json!({
        "id": "CU9", "name": "腾讯计算机系统", "region": "广东/深圳", "email": "IT@Tencent.example",
        "attributes": {"wechat": "tx-it"},
    }));
    let created = store
        .put_customer(fields_of_cu9.clone(), &given, "rep:r2", day(1), true)
        .await;
    let refusal = refusal_code(created);
    assert!(
        refusal.starts_with("duplicate: customer CU9 was not created: its name matches"),
        "{refusal}"
    );
    assert!(
        !refusal.contains("CU1"),
        "the existing customer is not named: {refusal}"
    );
    assert!(matches!(
        store.get_customer(&id("CU9")).await,
        Err(StoreError::NotFound { .. })
    ));
    let seen_by_r2 = store
        .list_conflicts(&r2, &all_conflicts())
        .await
        .expect("list");
    assert_eq!(seen_by_r2.len(), 1);
    let first = &seen_by_r2[0];
    assert_eq!(first.state, "open");
    assert_eq!(first.duplicate_id, "CU9");
    assert_eq!(first.brought_by_rep_id.as_deref(), Some("r2"));
    assert_eq!(first.customer_id, None, "r2 does not see r1's customer");
    assert_eq!(first.owner_id, None);
    let body = serde_json::to_string(first).expect("json");
    assert!(!body.contains("CU1") && !body.contains("\"r1\""), "{body}");
    let conflict = first.id;
    let seen_by_r1 = store
        .get_conflict(&r1, conflict)
        .await
        .expect("owner sees it");
    assert_eq!(seen_by_r1.customer_id.as_deref(), Some("CU1"));
    assert_eq!(seen_by_r1.matched[0].field, "name");
    assert_eq!(seen_by_r1.matched[0].key, "腾讯计算机系统");
    let told = store
        .list_notifications(&r1, false, 100)
        .await
        .expect("notifications");
    assert!(
        told.iter()
            .any(|notice| notice.kind == "conflict_opened" && notice.text.contains("CU9")),
        "{told:?}"
    );

    // Brought again while open: the same conflict, one more step.
    let again = store
        .put_customer(fields_of_cu9, &given, "rep:r2", day(1), true)
        .await;
    assert!(refusal_code(again).contains(&format!("conflict {conflict}")));
    assert_eq!(
        store
            .list_conflicts(&admin, &all_conflicts())
            .await
            .unwrap()
            .len(),
        1
    );

    // An import: CU10 has CU1's phone in another form, CU12 the email of CU11 (a row of the same
    // file), and CU13 names CU10 as its parent, so it gets CU1.
    let rows: Vec<Value> = vec![
        json!({"id": "CU10", "name": "另一家公司", "region": "广东/深圳", "phone": "0086 13800138000", "first_touch_rep_id": "r2"}),
        json!({"id": "CU11", "name": "阿里巴巴网络技术有限公司", "region": "浙江/杭州", "email": "bd@alibaba.example"}),
        json!({"id": "CU12", "name": "Alibaba Network Technology Co., Ltd.", "region": "浙江/杭州", "email": " BD@alibaba.example "}),
        json!({"id": "CU13", "name": "腾讯子公司", "region": "广东/深圳", "parent_id": "CU10"}),
    ];
    let rows = rows.into_iter().enumerate().map(|(index, row)| {
        let (record, given) = fields(row);
        Ok(ImportRow {
            line: index + 2,
            record,
            given,
        })
    });
    let summary = store
        .import_customers(
            rows.collect::<Vec<_>>(),
            BadRows::new(false),
            CustomerWrite {
                actor: "admin:test",
                source: OwnerChangeSource::Import,
                clock: day(2),
                create_only: false,
            },
            &|_| {},
        )
        .await
        .expect("import");
    assert_eq!(summary.inserted, 2, "{summary:?}");
    let duplicates: Vec<(usize, &str, Vec<String>)> = summary
        .duplicates
        .iter()
        .map(|row| (row.line, row.id.as_str(), row.fields.clone()))
        .collect();
    assert_eq!(
        duplicates,
        [
            (2, "CU10", vec!["phone".to_string()]),
            (4, "CU12", vec!["email".to_string()])
        ]
    );
    let cu13 = store.get_customer(&id("CU13")).await.expect("CU13 stored");
    assert_eq!(
        cu13.parent_id.map(|parent| parent.to_string()).as_deref(),
        Some("CU1")
    );
    let of_cu11 = store
        .list_conflicts(
            &admin,
            &ConflictFilter {
                customer_id: Some(id("CU11")),
                limit: 10,
                ..ConflictFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(of_cu11.len(), 1);
    assert_eq!(
        of_cu11[0].brought_by_rep_id, None,
        "an admin's import without a first-touch rep"
    );

    // A route of a new customer with CU1's credit code: not routed, the existing decision.
    let (fields_of_cu20, given) = fields(json!({
        "id": "CU20", "name": "完全不同的名字", "region": "广东/深圳", "credit_code": "91350100m000100y43",
    }));
    let routed = store
        .route_one(fields_of_cu20, &given, day(2), "admin:test")
        .await
        .expect("route");
    assert!(!routed.routed_now);
    let opened = routed.conflict.expect("a conflict");
    assert_eq!(opened.customer_id.as_deref(), Some("CU1"));
    assert_eq!(opened.matched[0].field, "credit_code");
    assert_eq!(routed.decision.owner_id.as_deref(), Some("r1"));
    assert!(
        routed.decision.reason.contains("credit_code"),
        "{}",
        routed.decision.reason
    );
    assert!(matches!(
        store.get_customer(&id("CU20")).await,
        Err(StoreError::NotFound { .. })
    ));

    // The dispute: only the rep who brought it, with its own interactions with CU1.
    assert!(refusal_code(
        store
            .dispute_conflict(
                &r1,
                conflict,
                &Dispute {
                    text: "mine".into(),
                    interaction_ids: vec![]
                },
                day(3)
            )
            .await
    )
    .starts_with("forbidden"));
    let bad_evidence = store
        .dispute_conflict(
            &r2,
            conflict,
            &Dispute {
                text: "I met them first".into(),
                interaction_ids: vec!["IN-none".into()],
            },
            day(3),
        )
        .await;
    match bad_evidence {
        Err(StoreError::Invalid(error)) => assert_eq!(error.field, "interaction_ids[0]"),
        other => panic!("expected a field error, got {other:?}"),
    }
    let interaction = serde_json::from_value::<allot_core::activity::InteractionFields>(json!({
        "id": "IN-r2", "customer_id": "CU1", "rep_id": "r2", "at": "2026-05-20T10:00:00+08:00",
        "kind": "visit", "outcome": "reached",
    }))
    .unwrap()
    .into_interaction()
    .unwrap();
    store
        .add_interaction(interaction, day(3))
        .await
        .expect("interaction");
    let disputed = store
        .dispute_conflict(
            &r2,
            conflict,
            &Dispute {
                text: "I visited them in May".into(),
                interaction_ids: vec!["IN-r2".into()],
            },
            day(3),
        )
        .await
        .expect("dispute");
    assert_eq!(disputed.state, "disputed");
    assert_eq!(disputed.evidence_interactions[0].id, "IN-r2");
    let told_manager = store.list_notifications(&m1, false, 100).await.unwrap();
    assert!(told_manager
        .iter()
        .any(|notice| notice.kind == "conflict_disputed"));

    // The decision: not a rep's; m1 (manager of r1's team) moves it through a transfer.
    assert!(refusal_code(
        store
            .decide_conflict(&r2, conflict, ConflictDecision::Move, "", day(4))
            .await
    )
    .starts_with("forbidden"));
    let moved = store
        .decide_conflict(
            &m1,
            conflict,
            ConflictDecision::Move,
            "r2 was first",
            day(4),
        )
        .await
        .expect("move");
    assert_eq!(moved.state, "moved");
    let transfer = moved.transfer_id.expect("a transfer");
    let waiting = store.get_transfer(&r2, transfer).await.expect("transfer");
    assert_eq!(waiting.state, "approved", "{waiting:?}");
    assert_eq!(waiting.reason_kind, "conflict");
    assert_eq!(
        owner(&store, "CU1").await.as_deref(),
        Some("r1"),
        "only on acceptance"
    );
    store
        .accept_transfer(&r2, transfer, "taken", day(5))
        .await
        .expect("accept");
    assert_eq!(owner(&store, "CU1").await.as_deref(), Some("r2"));
    let events = store
        .list_events(&EventFilter {
            customer_id: Some(id("CU1")),
            limit: 1000,
            ..EventFilter::default()
        })
        .await
        .expect("events");
    let last = events.last().expect("an event");
    assert_eq!(last.reason_kind.as_deref(), Some("conflict"));
    assert_eq!(last.to_rep_id.as_deref(), Some("r2"));
    assert!(refusal_code(
        store
            .decide_conflict(&m1, conflict, ConflictDecision::Keep, "", day(5))
            .await
    )
    .starts_with("conflict_state"));

    // The merge keeps CU1's id, owner and values, and fills what it lacked from CU9.
    let merged = store
        .merge_conflict(&m1, conflict, "one company", day(6))
        .await
        .expect("merge");
    assert!(merged.merged_at.is_some());
    let cu1 = store.get_customer(&id("CU1")).await.unwrap();
    assert_eq!(
        cu1.email.map(|email| email.to_string()).as_deref(),
        Some("it@tencent.example")
    );
    assert_eq!(
        cu1.attributes.get("wechat").map(String::as_str),
        Some("tx-it")
    );
    assert_eq!(cu1.name, "深圳市腾讯计算机系统有限公司");
    assert_eq!(
        cu1.owner_id.map(|owner| owner.to_string()).as_deref(),
        Some("r2")
    );
    assert!(
        refusal_code(store.merge_conflict(&m1, conflict, "", day(6)).await)
            .starts_with("conflict_state")
    );
    let actions: Vec<String> = store
        .get_conflict(&admin, conflict)
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|event| event.action)
        .collect();
    assert_eq!(
        actions,
        ["opened", "brought_again", "disputed", "moved", "merged"]
    );

    // Keep: the director above sales keeps CU10's conflict; the owner stays.
    let of_cu1: Vec<i64> = store
        .list_conflicts(&admin, &all_conflicts())
        .await
        .unwrap()
        .into_iter()
        .filter(|conflict| conflict.duplicate_id == "CU10")
        .map(|conflict| conflict.id)
        .collect();
    let director = principal(&store, "d1").await;
    let kept = store
        .decide_conflict(
            &director,
            of_cu1[0],
            ConflictDecision::Keep,
            "owner stays",
            day(7),
        )
        .await
        .expect("keep");
    assert_eq!(kept.state, "kept");
    assert_eq!(owner(&store, "CU1").await.as_deref(), Some("r2"));
    // A decided conflict frees the duplicate's id: brought again, it opens a new one.
    assert_eq!(
        store
            .list_conflicts(
                &admin,
                &ConflictFilter {
                    state: Some(allot_store::lifecycle::conflicts::ConflictState::Open),
                    limit: 10,
                    ..ConflictFilter::default()
                }
            )
            .await
            .unwrap()
            .len(),
        2,
        "CU12 and CU20 are still open"
    );
    // A changed email replaces its key: the old one is free, the new one taken.
    let (changed, given) = fields(json!({"id": "CU11", "email": "new@alibaba.example"}));
    store
        .put_customer(changed, &given, "admin:test", day(8), false)
        .await
        .expect("update");
    let (old_email, given) = fields(
        json!({"id": "CU30", "name": "三十", "region": "浙江/杭州", "email": "bd@alibaba.example"}),
    );
    assert!(store
        .put_customer(old_email, &given, "admin:test", day(8), true)
        .await
        .expect("created"));
    let (new_email, given) = fields(
        json!({"id": "CU31", "name": "三十一", "region": "浙江/杭州", "email": "NEW@alibaba.example"}),
    );
    assert!(refusal_code(
        store
            .put_customer(new_email, &given, "admin:test", day(8), true)
            .await
    )
    .starts_with("duplicate"));

    // The steps are an append-only log.
    for statement in [
        "UPDATE conflict_events SET text = 'changed'",
        "DELETE FROM conflict_events",
    ] {
        assert!(
            store.execute_for_test(statement).await.is_err(),
            "{statement}"
        );
    }
}
test_on_both_backends! {
    a_duplicate_is_kept_in_a_conflict_and_settled => super::conflicts_and_duplicates;
}
