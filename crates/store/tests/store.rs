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
    let c1 = allot_core::CustomerId::parse("c1").expect("id");
    let until = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).expect("date");
    store
        .set_tier_override(&c1, "A", "王经理要求", until, "test", clock())
        .await
        .expect("a tier event");
    // Erasing a reason (what `forget` does) is the one change allowed, and only alone.
    for statement in [
        "UPDATE events SET reason = 'rewritten'",
        "UPDATE events SET reason = '[erased]', to_rep_id = 'r2'",
        "UPDATE events SET reason = '[erased]', actor = 'someone else'",
        "DELETE FROM events",
        "UPDATE tier_events SET reason = 'rewritten'",
        "UPDATE tier_events SET reason = '[erased]', to_tier = 'C'",
        "DELETE FROM tier_events",
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
    assert_ne!(events[0].reason, "[erased]");
    for statement in [
        "UPDATE events SET reason = '[erased]'",
        "UPDATE tier_events SET reason = '[erased]'",
    ] {
        let changed = store.execute_for_test(statement).await.expect(statement);
        assert_eq!(changed, 1, "{statement}");
    }
}

/// Routing the pool reads, decides and writes in chunks on two threads; its decisions are
/// exactly those of one engine routing the whole pool in order, children whose parents were
/// routed a chunk before (not yet written when their chunk was read) included.
async fn routing_the_pool_in_chunks_decides_as_one_engine_alone(backend: Backend) {
    use allot_core::customer::CUSTOMER_COLUMNS;
    use allot_core::routing::RoutingEngine;
    use allot_core::rules::RuleSet;
    use allot_core::strategy::{RepLoad, RepState};
    use allot_store::customers::{CustomerWrite, OwnerChangeSource};
    use allot_store::imports::{BadRows, ImportRow};
    use std::collections::{BTreeMap, HashMap};

    let organisation = allot_core::demo::synthetic_organisation(5, 12, 60, 25_000, 12);
    let mut in_pool_order = organisation.customers.clone();
    in_pool_order.sort_by(|left, right| {
        (left.created_at, left.id.as_str()).cmp(&(right.created_at, right.id.as_str()))
    });
    let mut engine = RoutingEngine::new(
        RuleSet::parse(&organisation.rules_toml).expect("rules"),
        &organisation.teams,
        organisation
            .reps
            .iter()
            .map(|rep| RepState {
                rep: rep.clone(),
                load: RepLoad::default(),
            })
            .collect(),
        &BTreeMap::new(),
        clock(),
    );
    let mut expected: HashMap<String, Option<String>> = HashMap::new();
    let mut owners = HashMap::new();
    let mut children_of_routed_parents = 0;
    for customer in &in_pool_order {
        let parent_owner = customer
            .parent_id
            .as_ref()
            .and_then(|parent| owners.get(parent));
        children_of_routed_parents += usize::from(parent_owner.is_some());
        let decision = engine.route(customer, parent_owner);
        if let Some(owner) = &decision.owner_id {
            owners.insert(customer.id.clone(), owner.clone());
        }
        expected.insert(
            customer.id.to_string(),
            decision.owner_id.map(|owner| owner.to_string()),
        );
    }
    assert!(
        children_of_routed_parents > 100,
        "the data has sticky children"
    );

    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    let quiet = |_: u64| {};
    let teams = organisation
        .teams
        .iter()
        .map(|team| ImportRow::whole(0, team.clone(), &TeamFields::COLUMNS))
        .collect();
    store
        .import_teams(teams, BadRows::new(true), &quiet)
        .await
        .expect("teams");
    let reps = organisation
        .reps
        .iter()
        .map(|rep| ImportRow::whole(0, rep.clone(), &RepFields::COLUMNS))
        .collect();
    store
        .import_reps(reps, BadRows::new(true), &quiet)
        .await
        .expect("reps");
    let every_column =
        GivenColumns::all(CUSTOMER_COLUMNS.iter().map(|column| column.name)).without("owner_id");
    let rows: Vec<_> = organisation
        .customers
        .iter()
        .enumerate()
        .map(|(index, customer)| {
            let mut fields = CustomerFields::from_customer(customer);
            fields.remove("owner_id");
            Ok(ImportRow {
                line: index + 2,
                record: fields,
                given: every_column.clone(),
            })
        })
        .collect();
    store
        .import_customers(
            rows,
            BadRows::new(true),
            CustomerWrite {
                actor: "test",
                source: OwnerChangeSource::Import,
                clock: clock(),
                create_only: false,
            },
            &quiet,
        )
        .await
        .expect("customers");
    store
        .set_rules(&organisation.rules_toml, "test", clock())
        .await
        .expect("rules");
    let run = store
        .route_pool(clock(), "test", false, &quiet)
        .await
        .expect("route");
    assert_eq!(run.summary.considered, 25_000);
    let mut routed: HashMap<String, Option<String>> = HashMap::new();
    store
        .for_each_customer(|chunk| {
            for customer in chunk {
                routed.insert(
                    customer.id.to_string(),
                    customer.owner_id.as_ref().map(ToString::to_string),
                );
            }
            allot_store::StoreResult::Ok(())
        })
        .await
        .expect("customers");
    let differing = expected
        .iter()
        .filter(|(id, owner)| routed.get(*id) != Some(owner))
        .count();
    assert_eq!(
        differing, 0,
        "customers owned otherwise than one engine decided"
    );
}

test_on_both_backends! {
    routing_the_pool_in_chunks_decides_as_one_engine_alone => super::routing_the_pool_in_chunks_decides_as_one_engine_alone;
    cached_engine_sees_changes_from_another_process => super::cached_engine_sees_changes_from_another_process;
    rejected_request_leaves_routing_unchanged => super::rejected_request_leaves_routing_unchanged;
    events_cannot_be_changed_or_deleted => super::events_cannot_be_changed_or_deleted;
}

/// Every column holding a customer id compares as `customers.id` does, so a join by customer id
/// can use the index on the other side: with two collations PostgreSQL cannot, and the service
/// report's newest event per customer was a scan of the whole log per customer. (SQLite has
/// one text comparison, so the question is PostgreSQL's alone.)
#[tokio::test]
async fn customer_id_columns_join_through_their_indexes_on_postgres() {
    use sqlx::Connection;
    let database = TestDatabase::create(Backend::Postgres).await;
    Store::connect(&database.url).await.expect("store");
    let mut connection = sqlx::PgConnection::connect(&database.url)
        .await
        .expect("connect");
    let mismatched: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, COALESCE(collation_name::text, 'default') FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'customer_id' \
         AND COALESCE(collation_name::text, 'default') <> 'C' ORDER BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .expect("columns");
    assert_eq!(mismatched, Vec::<(String, String)>::new());
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut connection)
        .await
        .expect("set");
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT c.id, (SELECT MAX(e.at) FROM events AS e WHERE e.customer_id = c.id) FROM customers AS c",
    )
    .fetch_all(&mut connection)
    .await
    .expect("plan");
    assert!(
        plan.iter().any(|line| line.contains("events_customer")),
        "the newest event per customer is not read through the index: {plan:#?}"
    );
}

/// A database of `backend` with the test organisation, routed: `c-1` owned by `r1`, the store
/// closed so that a test can write past it.
async fn database_with_c1_routed_to_r1(backend: Backend) -> TestDatabase {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("store");
    organisation(&store).await;
    assert_eq!(
        owner_after_route(&store, "c-1").await.as_deref(),
        Some("r1")
    );
    drop(store);
    database
}

/// `c-1`'s owner as the store reads it, through a store opened afresh.
async fn stored_owner_of_c1(database: &TestDatabase) -> Option<String> {
    let store = Store::connect(&database.url).await.expect("store");
    let id = allot_core::CustomerId::parse("c-1").expect("id");
    let customer = store.get_customer(&id).await.expect("c-1");
    customer.owner_id.map(|owner| owner.as_str().to_string())
}

/// SQLite checks the owner's foreign key at commit (migration 0015): a statement that writes an
/// owner who is not a rep goes through, the commit refuses it, and nothing of it stays. Checked
/// after each statement, SQLite journalled every page of every owner update.
#[tokio::test]
async fn sqlite_checks_the_owner_reference_at_commit() {
    use sqlx::Connection;
    let database = database_with_c1_routed_to_r1(Backend::Sqlite).await;
    let mut connection = sqlx::SqliteConnection::connect(&database.url)
        .await
        .expect("connect");
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut connection)
        .await
        .expect("pragma");
    let mut transaction = connection.begin().await.expect("begin");
    sqlx::query("UPDATE customers SET owner_id = 'nobody' WHERE id = 'c-1'")
        .execute(&mut *transaction)
        .await
        .expect("the statement itself is not refused: the check waits for the commit");
    let refused = transaction
        .commit()
        .await
        .expect_err("the commit is refused");
    assert!(
        refused.to_string().contains("FOREIGN KEY"),
        "refused for another reason: {refused}"
    );
    assert_eq!(stored_owner_of_c1(&database).await.as_deref(), Some("r1"));
}

/// PostgreSQL checks owners once per statement (migration 0017) instead of by a foreign key
/// per row: an owner who is not a rep is refused with the foreign key's error and nothing
/// stays, and a rep who owns customers cannot be deleted or renumbered.
#[tokio::test]
async fn postgres_checks_owners_per_statement_both_ways() {
    use sqlx::Connection;
    let database = database_with_c1_routed_to_r1(Backend::Postgres).await;
    let mut connection = sqlx::PgConnection::connect(&database.url)
        .await
        .expect("connect");
    let refused = |error: sqlx::Error| match error {
        sqlx::Error::Database(error) => error.code().map(|code| code.to_string()),
        other => panic!("refused for another reason: {other}"),
    };
    for statement in [
        "UPDATE customers SET owner_id = 'nobody' WHERE id = 'c-1'",
        "UPDATE customers SET owner_id = CASE WHEN id = 'c-1' THEN 'nobody' ELSE owner_id END",
        "INSERT INTO customers (id, name, customer_type, industry, region, source, workload, \
         owner_id, attributes, updated_at) VALUES ('c-new', 'New', 'enterprise', 'retail', \
         'east', 'web', 1, 'nobody', '{}', now())",
        "DELETE FROM reps WHERE id = 'r1'",
        "UPDATE reps SET id = 'r1-renamed' WHERE id = 'r1'",
    ] {
        let error = sqlx::query(statement)
            .execute(&mut connection)
            .await
            .expect_err(statement);
        assert_eq!(refused(error).as_deref(), Some("23503"), "{statement}");
    }
    assert_eq!(stored_owner_of_c1(&database).await.as_deref(), Some("r1"));
    let reps: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reps WHERE id = 'r1'")
        .fetch_one(&mut connection)
        .await
        .expect("reps");
    assert_eq!(reps, 1);
    // An owner who is a rep is accepted.
    sqlx::query("UPDATE customers SET owner_id = 'r2' WHERE id = 'c-1'")
        .execute(&mut connection)
        .await
        .expect("owners who are reps");
}
