//! Customer value on both backends: a three-month `tick` simulation in which tiers move and
//! tier events are written, manual overrides that expire, activity imports and health alerts.

use allot_core::activity::{InteractionFields, TicketFields, TransactionFields};
use allot_core::clock::Clock;
use allot_core::input::{RepFields, TeamFields};
use allot_core::update::GivenColumns;
use allot_core::{Customer, CustomerFields, CustomerId};
use allot_store::customers::{CustomerImportRow, CustomerWrite, OwnerChangeSource};
use allot_store::imports::BadRows;
use allot_store::value::{AlertFilter, TierEventFilter};
use allot_store::{test_on_both_backends, testing::TestDatabase, Backend, Store};
use chrono::{Duration, NaiveDate};
use serde_json::json;

fn clock(at: &str) -> Clock {
    Clock::parse(at).expect("clock")
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

fn noop(_: u64) {}

/// A customer's tier as text (empty when it has none).
fn tier_text(customer: &Customer) -> String {
    customer
        .tier
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn import_write(at: &str) -> CustomerWrite<'static> {
    CustomerWrite {
        actor: "test",
        source: OwnerChangeSource::Import,
        clock: clock(at),
        create_only: false,
    }
}

/// A row of a file giving exactly `fields`.
fn row(
    line: usize,
    fields: serde_json::Value,
) -> Result<CustomerImportRow, allot_store::imports::RowProblem> {
    let fields = serde_json::from_value::<CustomerFields>(fields).unwrap();
    let given = fields.given_columns();
    Ok(CustomerImportRow {
        line,
        record: fields,
        given,
    })
}

/// 40 customers owned by r1. Everyone buys steadily from January; `c01` buys big until
/// mid-February and then stops; `c02` starts buying big in April.
async fn organisation(store: &Store) {
    let team = serde_json::from_value::<TeamFields>(json!({"id": "sales", "name": "销售部"}))
        .unwrap()
        .into_team()
        .unwrap();
    store
        .put_team(&team, &GivenColumns::all(TeamFields::COLUMNS))
        .await
        .unwrap();
    let rep = serde_json::from_value::<RepFields>(json!({
        "id": "r1", "name": "王芳", "email": "r1@example.com", "team_id": "sales",
    }))
    .unwrap()
    .into_rep()
    .unwrap();
    store
        .put_rep(&rep, &GivenColumns::all(RepFields::COLUMNS))
        .await
        .unwrap();
    let customers: Vec<_> = (1..=40)
        .map(|number| {
            row(
                number + 1,
                json!({
                    "id": format!("c{number:02}"), "name": format!("客户{number}"), "owner_id": "r1",
                }),
            )
        })
        .collect();
    let summary = store
        .import_customers(
            customers,
            BadRows::new(true),
            import_write("2026-01-01T00:00:00Z"),
            &noop,
        )
        .await
        .unwrap();
    assert!(summary.written);

    let mut transactions = Vec::new();
    let mut line = 1;
    let mut add = |customer: &str, day: NaiveDate, amount: f64| {
        line += 1;
        let mut fields = TransactionFields::default();
        for (column, value) in [
            ("customer_id", customer.to_string()),
            ("at", day.to_string()),
            ("amount", amount.to_string()),
            ("product_line", "软件".to_string()),
        ] {
            fields.set(column, value).unwrap();
        }
        transactions.push((line, fields.into_transaction().unwrap()));
    };
    let start = date("2026-01-01");
    // Everyone else buys at irregular intervals and some stop for good, as real customers do:
    // the BG/NBD model needs both to estimate purchase and drop-out rates. A small linear
    // congruential generator keeps the data the same on every run.
    let mut state: u64 = 42;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    for number in 3..=40 {
        let mean_gap = f64::from(number % 5 + 1) * 9.0;
        let amount = 50.0 + f64::from(number) * 5.0;
        let mut day = start + Duration::days(i64::from(number % 7));
        while day < date("2026-07-01") {
            add(&format!("c{number:02}"), day, amount);
            if uniform() < 0.06 {
                break;
            }
            day += Duration::days(1 + (-uniform().ln() * mean_gap) as i64);
        }
    }
    let mut day = start;
    while day < date("2026-02-15") {
        add("c01", day, 2_000.0);
        day += Duration::days(7);
    }
    let mut day = date("2026-04-02");
    while day < date("2026-07-01") {
        add("c02", day, 2_000.0);
        day += Duration::days(5);
    }
    // A refund nets against the purchase it returns.
    add("c03", date("2026-01-04"), -10.0);
    let summary = store
        .import_transactions(
            transactions,
            BadRows::new(true),
            clock("2026-07-01T00:00:00Z"),
            &noop,
        )
        .await
        .unwrap();
    assert!(summary.written && summary.problems.is_empty());
}

async fn three_months_of_ticks_move_tiers_and_log_every_move(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;

    let april = store
        .tick(clock("2026-04-01T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    let regrade = april.regrade.expect("the first tick of April re-grades");
    assert_eq!(regrade.customers, 40);
    assert_eq!(regrade.tiers_set, 40, "first grading sets every tier");
    assert!(
        regrade.clv.bg_nbd.is_some(),
        "CLV fitted: {:?}",
        regrade.clv
    );

    let again = store
        .tick(clock("2026-04-20T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert!(again.regrade.is_none(), "once per month");
    assert_eq!(again.already_done.len(), 1);

    let c01 = CustomerId::parse("c01").unwrap();
    let c02 = CustomerId::parse("c02").unwrap();
    let tier_of =
        |value: &allot_store::value::CustomerValue| value.value.as_ref().unwrap().tier.clone();
    let c01_in_april = tier_of(&store.customer_value(&c01).await.unwrap());
    let c02_in_april = tier_of(&store.customer_value(&c02).await.unwrap());

    let mut moves = 0;
    for at in [
        "2026-05-01T02:00:00Z",
        "2026-06-01T02:00:00Z",
        "2026-07-01T02:00:00Z",
    ] {
        let regrade = store
            .tick(clock(at), "tick", false)
            .await
            .unwrap()
            .regrade
            .unwrap();
        moves += regrade.upgrades + regrade.downgrades + regrade.tiers_set;
    }
    let events = store
        .list_tier_events(&TierEventFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 40 + moves, "one tier event per move");
    assert!(events.iter().any(|event| event.direction == "up"));
    assert!(events.iter().any(|event| event.direction == "down"));
    // Each customer's events chain (each starts where the last ended), move in the direction
    // they say, and give the score and tier that caused them.
    let names = ["A", "B", "C"];
    let rank = |tier: &str| names.iter().position(|name| *name == tier).unwrap();
    let mut last_tier: std::collections::BTreeMap<&str, &str> = Default::default();
    for event in &events {
        let previous = last_tier.insert(&event.customer_id, &event.to_tier);
        assert_eq!(event.from_tier.as_deref(), previous, "{event:?}");
        let expected_direction = match previous {
            None => "set",
            Some(from) if rank(&event.to_tier) < rank(from) => "up",
            Some(_) => "down",
        };
        assert_eq!(event.direction, expected_direction, "{event:?}");
        assert_ne!(event.from_tier.as_deref(), Some(event.to_tier.as_str()));
        assert!(
            event
                .reason
                .starts_with(&format!("score {:.1} (ABC class ", event.score))
                && event
                    .reason
                    .ends_with(&format!(") gives tier {}", event.to_tier)),
            "{event:?}"
        );
    }
    for (customer, tier) in &last_tier {
        let current = tier_text(
            &store
                .get_customer(&CustomerId::parse(customer).unwrap())
                .await
                .unwrap(),
        );
        assert_eq!(&current, tier, "the last event gives {customer}'s tier");
    }

    let c01_value = store.customer_value(&c01).await.unwrap();
    let c02_value = store.customer_value(&c02).await.unwrap();
    assert!(
        rank(&tier_of(&c01_value)) > rank(&c01_in_april),
        "the customer who stopped buying went down: {c01_in_april} → {}",
        tier_of(&c01_value)
    );
    assert!(
        rank(&tier_of(&c02_value)) < rank(&c02_in_april),
        "the customer who started buying went up: {c02_in_april} → {}",
        tier_of(&c02_value)
    );
    assert!(c02_value
        .tier_history
        .iter()
        .any(|event| event.direction == "up" && event.score > 0.0));
    // The customer's tier follows its value, so routing conditions on `tier` see it.
    assert_eq!(
        tier_text(&store.get_customer(&c02).await.unwrap()),
        tier_of(&c02_value)
    );
    let routed_value = store.get_customer(&c02).await.unwrap().value;
    assert!(routed_value.score.is_some() && routed_value.clv.is_some());
}

/// Routing conditions read what grading measured: a customer released to the pool after a
/// grading is routed by its score, CLV, P(alive) and RFM segment, on both backends (on SQLite
/// through the one-value JSON read of the pool).
async fn graded_values_route_customers(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    let at = clock("2026-07-01T02:00:00Z");
    let summary = store.score_customers(at, "test", false).await.unwrap();
    assert!(
        summary.clv.bg_nbd.is_some(),
        "CLV fitted: {:?}",
        summary.clv
    );
    let mut graded = Vec::new();
    for number in 1..=40 {
        let id = CustomerId::parse(&format!("c{number:02}")).unwrap();
        let value = store.customer_value(&id).await.unwrap().value.unwrap();
        graded.push((id, value));
    }
    graded.sort_by(|left, right| right.1.score.total_cmp(&left.1.score));
    let (best, best_value) = &graded[0];
    let (worst, _) = &graded[graded.len() - 1];
    let best_clv = best_value.clv.expect("the best customer has a CLV");
    let segment = best_value.rfm.as_ref().unwrap().segment.as_str();
    for id in [best, worst] {
        let release =
            serde_json::from_value::<CustomerFields>(json!({"id": id.as_str(), "owner_id": ""}))
                .unwrap();
        store
            .put_customer(
                release,
                &GivenColumns::from_header(&["id".to_string(), "owner_id".to_string()]),
                "test",
                at,
                false,
            )
            .await
            .unwrap();
    }
    let rules = format!(
        "[[rule]]\nname = \"by value\"\nwhen = 'score >= {} and clv >= {} and p_alive > {} and rfm_segment == \"{segment}\"'\nto = {{ reps = [\"r1\"] }}\nstrategy = \"round_robin\"\n\n[[rule]]\nname = \"rest\"\nwhen = 'true'\nto = {{ reps = [\"r1\"] }}\nstrategy = \"round_robin\"\n",
        best_value.score - 1e-6,
        best_clv.clv * 0.999,
        best_clv.p_alive * 0.999,
    );
    store.set_rules(&rules, "test", at).await.unwrap();
    let run = store.route_pool(at, "test", true, &noop).await.unwrap();
    assert_eq!(run.summary.routed, 2, "{:?}", run.summary);
    let rule_of = |id: &CustomerId| {
        run.decisions
            .iter()
            .find(|decision| decision.customer_id == id.as_str())
            .and_then(|decision| decision.rule.clone())
    };
    assert_eq!(
        rule_of(best).as_deref(),
        Some("by value"),
        "{:?}",
        run.decisions
    );
    assert_eq!(
        rule_of(worst).as_deref(),
        Some("rest"),
        "{:?}",
        run.decisions
    );
}

async fn an_override_wins_until_it_expires(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    store
        .score_customers(clock("2026-04-01T00:00:00Z"), "test", false)
        .await
        .unwrap();
    let c01 = CustomerId::parse("c01").unwrap();
    let computed = store
        .customer_value(&c01)
        .await
        .unwrap()
        .value
        .unwrap()
        .computed_tier;
    let manual = if computed == "A" { "C" } else { "A" };

    let unknown = store
        .set_tier_override(
            &c01,
            "钻石",
            "大客户",
            date("2026-05-15"),
            "test",
            clock("2026-04-02T00:00:00Z"),
        )
        .await
        .expect_err("unknown tier");
    assert!(unknown.to_string().contains("tier"), "{unknown}");

    store
        .set_tier_override(
            &c01,
            manual,
            "战略合作，董事长关注",
            date("2026-05-15"),
            "test",
            clock("2026-04-02T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(tier_text(&store.get_customer(&c01).await.unwrap()), manual);
    // The value shows the override at once, not only after the next grading.
    let value = store.customer_value(&c01).await.unwrap();
    assert_eq!(value.value.as_ref().unwrap().tier, manual);
    assert!(value.value.as_ref().unwrap().override_active);
    store
        .score_customers(clock("2026-05-15T23:00:00Z"), "test", false)
        .await
        .unwrap();
    let value = store.customer_value(&c01).await.unwrap();
    assert_eq!(value.value.as_ref().unwrap().tier, manual);
    assert!(value.value.as_ref().unwrap().override_active);

    // The day after the last day, the daily job of `tick` ends the override and the computed
    // tier is back, with an event saying so.
    let tick = store
        .tick(clock("2026-05-16T00:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert_eq!(tick.overrides_expired, 1);
    let value = store.customer_value(&c01).await.unwrap();
    assert!(value.tier_override.is_none());
    assert!(value
        .tier_history
        .iter()
        .any(|event| event.reason.contains("expired after 2026-05-15")));
    let details = value.value.unwrap();
    assert!(!details.override_active);
    assert_eq!(details.tier, details.computed_tier);
    // A file that sets a graded customer's tier does not change it, and says so.
    let graded_tier = tier_text(&store.get_customer(&c01).await.unwrap());
    let other = if graded_tier == "A" { "B" } else { "A" };
    let summary = store
        .import_customers(
            vec![row(2, json!({"id": "c01", "tier": other}))],
            BadRows::new(false),
            import_write("2026-05-17T00:00:00Z"),
            &noop,
        )
        .await
        .unwrap();
    assert_eq!(summary.updated, 1);
    assert_eq!(summary.warnings.len(), 1, "{summary:?}");
    assert_eq!(summary.warnings[0].field, "tier");
    assert_eq!(
        tier_text(&store.get_customer(&c01).await.unwrap()),
        graded_tier
    );

    // An override that keeps the tier is still logged.
    let before = store.customer_value(&c01).await.unwrap().tier_history.len();
    store
        .set_tier_override(
            &c01,
            &graded_tier,
            "续约谈判期间保持",
            date("2026-06-30"),
            "test",
            clock("2026-05-17T00:00:00Z"),
        )
        .await
        .unwrap();
    let history = store.customer_value(&c01).await.unwrap().tier_history;
    assert_eq!(history.len(), before + 1);
    assert!(history[0].reason.contains("续约谈判期间保持"));
    // A policy without the override's tier: the override does not apply, and runs say so.
    store
        .set_value_policy(
            "[[tier]]\nname = \"战略\"\ntop_percent = 20\n\n[[tier]]\nname = \"普通\"\n",
            "test",
            clock("2026-05-17T00:00:00Z"),
        )
        .await
        .unwrap();
    let run = store
        .score_customers(clock("2026-05-18T00:00:00Z"), "test", false)
        .await
        .unwrap();
    assert_eq!(
        (run.overrides_ignored, run.overrides_active),
        (1, 0),
        "{run:?}"
    );
    assert_ne!(
        value.tier_history[0].from_tier.as_deref(),
        Some(details.tier.as_str())
    );
}

async fn interactions_move_last_contact_and_bad_rows_write_nothing(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    let interaction = |customer: &str, rep: &str, at: &str| {
        let mut fields = InteractionFields::default();
        for (column, value) in [
            ("customer_id", customer),
            ("rep_id", rep),
            ("at", at),
            ("kind", "call"),
            ("minutes", "20"),
        ] {
            fields.set(column, value.to_string()).unwrap();
        }
        fields.into_interaction().unwrap()
    };
    let today = clock("2026-03-10T09:00:00+08:00");
    let rows = vec![
        (2, interaction("c05", "r1", "2026-03-01")),
        (3, interaction("c05", "nobody", "2026-03-02")),
        // Later on the clock's calendar day is still today; the next day is the future.
        (4, interaction("c07", "r1", "2026-03-10T23:00:00+08:00")),
        (5, interaction("c07", "r1", "2026-03-11T00:00:00+08:00")),
    ];
    let strict = store
        .import_interactions(rows.clone(), BadRows::new(true), today, &noop)
        .await
        .unwrap();
    assert!(!strict.written);
    let problems: Vec<(usize, &str)> = strict
        .problems
        .iter()
        .map(|problem| (problem.line, problem.field.as_str()))
        .collect();
    assert_eq!(
        problems,
        [(3, "rep_id"), (5, "at")],
        "{:?}",
        strict.problems
    );
    assert!(
        strict.problems[1]
            .message
            .contains("after today (2026-03-10"),
        "{:?}",
        strict.problems
    );
    let lenient = store
        .import_interactions(rows.clone(), BadRows::new(false), today, &noop)
        .await
        .unwrap();
    assert_eq!(lenient.inserted, 2);
    // The same file again changes nothing: rows without ids get stable ids from their content.
    let again = store
        .import_interactions(rows, BadRows::new(false), today, &noop)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.updated), (0, 2));

    // One id twice in a file: the later row wins, as row by row, in one statement.
    let mut first = interaction("c06", "r1", "2026-03-03");
    first.id = Some("same-touch".to_string());
    let mut second = interaction("c06", "r1", "2026-03-04");
    second.id = Some("same-touch".to_string());
    let repeated = store
        .import_interactions(
            vec![(2, first), (3, second)],
            BadRows::new(true),
            today,
            &noop,
        )
        .await
        .unwrap();
    assert_eq!((repeated.inserted, repeated.updated), (1, 1));
    let c06 = CustomerId::parse("c06").unwrap();
    assert_eq!(
        store
            .customer_value(&c06)
            .await
            .unwrap()
            .last_interaction_at
            .as_deref(),
        Some("2026-03-04T00:00:00.000000Z")
    );

    let added = store
        .add_interaction(interaction("c05", "r1", "2026-02-01T10:00:00+08:00"), today)
        .await
        .unwrap();
    assert_eq!(added.created, Some(true));
    let future = store
        .add_interaction(interaction("c05", "r1", "2026-04-01"), today)
        .await
        .unwrap_err();
    assert!(
        matches!(&future, allot_store::StoreError::Invalid(error) if error.field == "at"),
        "{future:?}"
    );
    // An older touch does not move the last contact back.
    let c05 = CustomerId::parse("c05").unwrap();
    assert_eq!(
        store
            .customer_value(&c05)
            .await
            .unwrap()
            .last_interaction_at
            .as_deref(),
        Some("2026-03-01T00:00:00.000000Z")
    );
    // Everyone is below a threshold of 100, so every graded customer raises an alert.
    store
        .set_value_policy("[health]\nalert_below = 100\n", "test", today)
        .await
        .unwrap();
    store
        .score_customers(clock("2026-03-10T00:00:00Z"), "test", false)
        .await
        .unwrap();
    let alerts = store
        .list_alerts(&AlertFilter {
            include_closed: true,
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!alerts.is_empty(), "alerts are raised");
    for alert in &alerts {
        assert_eq!(alert.owner_id.as_deref(), Some("r1"));
        assert_eq!(alert.status, "open");
    }
}

/// Alerts follow the threshold: raised once while a customer is at risk, closed when it no
/// longer is, and never raised twice for the same spell.
async fn alerts_open_once_and_close_when_health_recovers(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    let open_alerts = || async {
        store
            .list_alerts(&AlertFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
    };
    let at = clock("2026-04-01T00:00:00Z");
    store
        .set_value_policy("[health]\nalert_below = 100\n", "test", at)
        .await
        .unwrap();
    let strict = store.score_customers(at, "test", false).await.unwrap();
    assert!(strict.alerts_raised > 0, "{strict:?}");
    assert_eq!(open_alerts().await.len(), strict.alerts_raised);
    let counted = store.count_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(counted, strict.alerts_raised as i64, "counted as listed");

    let again = store.score_customers(at, "test", false).await.unwrap();
    assert_eq!((again.alerts_raised, again.alerts_closed), (0, 0));

    store
        .set_value_policy("[health]\nalert_below = 0\n", "test", at)
        .await
        .unwrap();
    let lenient = store.score_customers(at, "test", false).await.unwrap();
    assert_eq!(lenient.alerts_closed, strict.alerts_raised);
    assert!(open_alerts().await.is_empty());
    assert_eq!(
        store.count_alerts(&AlertFilter::default()).await.unwrap(),
        0
    );
    let all = store
        .list_alerts(&AlertFilter {
            include_closed: true,
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), strict.alerts_raised);
    assert!(all
        .iter()
        .all(|alert| alert.status == "closed" && alert.closed_at.is_some()));
}

fn ticket(id: &str, customer: &str, opened_at: &str, closed_at: &str) -> TicketFields {
    let mut fields = TicketFields::default();
    for (column, value) in [
        ("id", id),
        ("customer_id", customer),
        ("opened_at", opened_at),
        ("closed_at", closed_at),
        ("severity", "major"),
        ("subject", "系统无法登录"),
    ] {
        fields.set(column, value.to_string()).unwrap();
    }
    fields
}

fn every_ticket_column() -> GivenColumns {
    GivenColumns::all(TicketFields::COLUMNS)
}

fn health_of(value: &allot_store::value::CustomerValue) -> f64 {
    value
        .value
        .as_ref()
        .unwrap()
        .health
        .expect("a measurable health")
}

/// Health moves every day, so the daily job recomputes it between monthly re-grades and
/// raises alerts as customers go quiet; an open ticket lowers it until the ticket closes.
async fn health_is_refreshed_daily_and_tickets_count(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    // Tickets are tracked from the first one on (before that their health part is unknown,
    // not perfect): one long closed ticket of another customer turns tracking on.
    store
        .put_ticket(
            ticket("k0", "c10", "2026-02-01", "2026-02-03"),
            &every_ticket_column(),
            clock("2026-07-31T00:00:00Z"),
            "admin:test",
        )
        .await
        .unwrap();
    let first = store
        .tick(clock("2026-07-01T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert!(
        first.regrade.is_some() && first.health.is_none(),
        "{first:?}"
    );
    let c05 = CustomerId::parse("c05").unwrap();
    let graded = health_of(&store.customer_value(&c05).await.unwrap());

    // A ticket opens: the next daily refresh lowers c05's health, and says why.
    store
        .put_ticket(
            ticket("k1", "c05", "2026-07-01T09:00:00Z", ""),
            &every_ticket_column(),
            clock("2026-07-31T00:00:00Z"),
            "admin:test",
        )
        .await
        .unwrap();
    let day = store
        .tick(clock("2026-07-02T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert!(day.regrade.is_none(), "a daily tick does not re-grade");
    assert_eq!(day.health.as_ref().unwrap().customers, 40);
    let with_ticket = store.customer_value(&c05).await.unwrap();
    let details = with_ticket.value.as_ref().unwrap();
    assert!(health_of(&with_ticket) < graded, "{details:?}");
    assert!(details
        .health_parts
        .iter()
        .any(|(name, value)| name == "tickets" && *value == 0.5));
    assert_eq!(
        details.health_as_of.as_deref(),
        Some("2026-07-02T02:00:00.000000Z")
    );
    assert_eq!(
        store
            .tickets_of(&c05, clock("2026-07-31T00:00:00Z"))
            .await
            .unwrap()
            .len(),
        1
    );

    // Closed, the ticket stops weighing on health; it still counts as service effort.
    let closed = store
        .put_ticket(
            ticket("k1", "c05", "2026-07-01T09:00:00Z", "2026-07-02T10:00:00Z"),
            &every_ticket_column(),
            clock("2026-07-31T00:00:00Z"),
            "admin:test",
        )
        .await
        .unwrap();
    assert_eq!(closed.created, Some(false));
    // Closing by id alone keeps the rest of the ticket.
    let mut close_only = TicketFields::default();
    close_only.set("id", "k1".to_string()).unwrap();
    close_only
        .set("closed_at", "2026-07-02T11:00:00Z".to_string())
        .unwrap();
    let reclosed = store
        .put_ticket(
            close_only,
            &GivenColumns::from_header(&["id".to_string(), "closed_at".to_string()]),
            clock("2026-07-31T00:00:00Z"),
            "admin:test",
        )
        .await
        .unwrap();
    assert_eq!(
        (
            reclosed.severity.as_str(),
            reclosed.subject.as_str(),
            reclosed.customer_id.as_str()
        ),
        ("major", "系统无法登录", "c05")
    );
    // A ticket does not move to another customer, and does not close in the future.
    let moved = store
        .put_ticket(
            ticket("k1", "c06", "2026-07-01T09:00:00Z", ""),
            &every_ticket_column(),
            clock("2026-07-31T00:00:00Z"),
            "admin:test",
        )
        .await
        .unwrap_err();
    assert!(moved.to_string().contains("does not move"), "{moved}");
    let future = store
        .put_ticket(
            ticket("k9", "c06", "2026-07-01T09:00:00Z", "2026-09-01"),
            &every_ticket_column(),
            clock("2026-07-31T00:00:00Z"),
            "admin:test",
        )
        .await
        .unwrap_err();
    assert!(future.to_string().contains("is after today"), "{future}");
    // A ticket dated today is today's in Beijing, even before 08:00 (midnight UTC is later).
    store
        .put_ticket(
            ticket("k8", "c06", "2026-07-31", ""),
            &every_ticket_column(),
            clock("2026-07-31T07:00:00+08:00"),
            "admin:test",
        )
        .await
        .unwrap();
    store
        .tick(clock("2026-07-03T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert!(health_of(&store.customer_value(&c05).await.unwrap()) > health_of(&with_ticket));

    // Weeks without purchases: health fades and the daily job, not a re-grade, raises alerts.
    let open_before = store
        .list_alerts(&AlertFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    let later = store
        .tick(clock("2026-07-30T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    let health = later.health.expect("the daily job ran");
    assert!(later.regrade.is_none());
    assert!(health.alerts_raised > 0, "{health:?}");
    let open_after = store
        .list_alerts(&AlertFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(open_after, open_before + health.alerts_raised);
    // Ticking the same day again runs nothing twice.
    let again = store
        .tick(clock("2026-07-30T20:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert!(again.ran.is_empty() && again.health.is_none());
}

/// Grading as of an earlier time than the last grading, or ticking into an earlier month,
/// would overwrite newer grades: refused unless forced; a forced tick forgets the later runs,
/// so one mistaken tick far in the future cannot block every later one.
async fn going_back_in_time_needs_force(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    store
        .score_customers(clock("2026-07-01T00:00:00Z"), "test", false)
        .await
        .unwrap();
    let refused = store
        .score_customers(clock("2026-06-01T00:00:00Z"), "test", false)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused}");
    store
        .score_customers(clock("2026-06-01T00:00:00Z"), "test", true)
        .await
        .unwrap();

    store
        .tick(clock("2099-12-01T00:00:00Z"), "tick", false)
        .await
        .unwrap();
    let refused = store
        .tick(clock("2026-07-02T00:00:00Z"), "tick", false)
        .await
        .unwrap_err();
    // Earlier in the same day or month is going back too: the daily jobs already ran later.
    store
        .tick(clock("2099-12-01T00:00:00Z"), "tick", true)
        .await
        .unwrap();
    let same_day = store
        .tick(clock("2099-11-30T23:00:00Z"), "tick", false)
        .await
        .unwrap_err();
    assert!(
        same_day.to_string().contains("already ran after"),
        "{same_day}"
    );
    assert!(matches!(
        refused,
        allot_store::StoreError::Refused { ref field, .. } if field.as_deref() == Some("at")
    ));
    let forced = store
        .tick(clock("2026-07-02T00:00:00Z"), "tick", true)
        .await
        .unwrap();
    assert_eq!(
        forced.forgotten_runs,
        [
            "expire_overrides 2099-12-01",
            "monthly_regrade 2099-12",
            "overload 2099-12-01",
            "plan_care 2099-12-01",
            "reclaim 2099-12-01",
            "refresh_health 2099-12-01",
            "service_checks 2099-12-01",
        ]
    );
    assert!(forced.regrade.is_some());
    // Normal ticking resumes.
    let next = store
        .tick(clock("2026-08-01T00:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert!(next.regrade.is_some());
    // Forcing a tick back before a later grading grades again, so later ticks need no force.
    store
        .score_customers(clock("2026-08-20T00:00:00Z"), "test", false)
        .await
        .unwrap();
    let back = store
        .tick(clock("2026-08-10T00:00:00Z"), "tick", true)
        .await
        .unwrap();
    assert!(back.regrade.is_some(), "{back:?}");
    store
        .tick(clock("2026-08-11T00:00:00Z"), "tick", false)
        .await
        .unwrap();
}

/// The value report, added up by the database, agrees with every graded customer's row as the
/// export reads it: customers, amounts, CLV and mean score per tier, ABC counts, segments and
/// health counts.
async fn the_value_report_adds_up_the_graded_rows(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    store
        .score_customers(clock("2026-07-01T02:00:00Z"), "test", false)
        .await
        .unwrap();
    let mut rows = Vec::new();
    store
        .for_each_customer_value(|chunk| {
            rows.extend(chunk.iter().map(|row| {
                (
                    row.tier.clone(),
                    row.abc.clone(),
                    row.rfm_segment.clone(),
                    row.monetary_minor.unwrap_or(0),
                    row.clv.unwrap_or(0.0),
                    row.score,
                    row.health,
                    row.at_risk,
                )
            }));
            Ok::<(), allot_store::StoreError>(())
        })
        .await
        .unwrap();
    assert!(rows.len() >= 40, "graded: {}", rows.len());
    let report = store.value_report(None).await.unwrap();
    assert_eq!(report.customers, rows.len());
    let total_minor: i64 = rows.iter().map(|row| row.3).sum();
    for tier in &report.tiers {
        let of_tier: Vec<_> = rows.iter().filter(|row| row.0 == tier.tier).collect();
        assert_eq!(tier.customers, of_tier.len(), "{}", tier.tier);
        let minor: i64 = of_tier.iter().map(|row| row.3).sum();
        assert!(
            (tier.monetary - minor as f64 / 100.0).abs() < 1e-6,
            "{}",
            tier.tier
        );
        assert!((tier.monetary_share - minor as f64 / total_minor as f64).abs() < 1e-9);
        let clv: f64 = of_tier.iter().map(|row| row.4).sum();
        assert!(
            (tier.clv - clv).abs() < 1e-6 * clv.abs().max(1.0),
            "{}",
            tier.tier
        );
        let mean = of_tier.iter().map(|row| row.5).sum::<f64>() / of_tier.len() as f64;
        assert!((tier.mean_score - mean).abs() < 1e-9, "{}", tier.tier);
    }
    for class in &report.abc {
        assert_eq!(
            class.customers,
            rows.iter().filter(|row| row.1 == class.class).count(),
            "{}",
            class.class
        );
    }
    let segmented: usize = report.segments.iter().map(|(_, count)| count).sum();
    assert_eq!(segmented, rows.len());
    assert_eq!(
        report.health_unknown,
        rows.iter().filter(|row| row.6.is_none()).count()
    );
    assert_eq!(
        report.health_below_threshold,
        rows.iter().filter(|row| row.6.is_some() && row.7).count()
    );
}

/// More than a thousand graded customers: on PostgreSQL grading sends its value rows and then
/// its health rows through `COPY` in one transaction, and the next day's health refresh its
/// health rows; every graded customer has both.
async fn over_a_thousand_customers_are_graded_and_refreshed(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.unwrap();
    organisation(&store).await;
    let more: Vec<_> = (1..=1_000)
        .map(|number| {
            row(
                number + 1,
                json!({"id": format!("m{number:04}"), "name": format!("客户M{number}"), "owner_id": "r1"}),
            )
        })
        .collect();
    let summary = store
        .import_customers(
            more,
            BadRows::new(true),
            import_write("2026-01-02T00:00:00Z"),
            &noop,
        )
        .await
        .unwrap();
    assert!(summary.written);
    let first = store
        .tick(clock("2026-07-01T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert_eq!(first.regrade.expect("the month's grading").customers, 1_040);
    let mut graded = Vec::new();
    store
        .for_each_customer_value(|chunk| {
            graded.extend(chunk.iter().map(|row| row.health_parts.is_some()));
            Ok::<(), allot_store::StoreError>(())
        })
        .await
        .unwrap();
    assert_eq!(graded.len(), 1_040);
    assert!(graded.iter().all(|has_parts| *has_parts));
    let next = store
        .tick(clock("2026-07-02T02:00:00Z"), "tick", false)
        .await
        .unwrap();
    assert_eq!(next.health.expect("the daily refresh").customers, 1_040);
    let m0001 = CustomerId::parse("m0001").unwrap();
    let value = store
        .customer_value(&m0001)
        .await
        .unwrap()
        .value
        .expect("graded");
    assert!(
        value
            .health_as_of
            .as_deref()
            .is_some_and(|at| at.starts_with("2026-07-02")),
        "{:?}",
        value.health_as_of
    );
}

test_on_both_backends! {
    over_a_thousand_customers_are_graded_and_refreshed => super::over_a_thousand_customers_are_graded_and_refreshed;
    the_value_report_adds_up_the_graded_rows => super::the_value_report_adds_up_the_graded_rows;
    graded_values_route_customers => super::graded_values_route_customers;
    health_is_refreshed_daily_and_tickets_count => super::health_is_refreshed_daily_and_tickets_count;
    going_back_in_time_needs_force => super::going_back_in_time_needs_force;
    alerts_open_once_and_close_when_health_recovers => super::alerts_open_once_and_close_when_health_recovers;
    three_months_of_ticks_move_tiers_and_log_every_move => super::three_months_of_ticks_move_tiers_and_log_every_move;
    an_override_wins_until_it_expires => super::an_override_wins_until_it_expires;
    interactions_move_last_contact_and_bad_rows_write_nothing => super::interactions_move_last_contact_and_bad_rows_write_nothing;
}

/// The value report (the dashboard's tiers and segments) reads an index rather than the wide
/// value rows: its grouping the covering index of migration 0019, its two health counts the
/// partial indexes of the customers they count (in `customer_health` since migration 0021).
#[tokio::test]
async fn the_value_report_reads_its_indexes_on_sqlite() {
    use sqlx::Connection;
    let database = TestDatabase::create(Backend::Sqlite).await;
    Store::connect(&database.url).await.expect("store");
    let mut connection = sqlx::SqliteConnection::connect(&database.url)
        .await
        .expect("connect");
    let plan = async |connection: &mut sqlx::SqliteConnection, statement: &str| {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {statement}"))
                .fetch_all(connection)
                .await
                .expect("plan");
        rows.into_iter()
            .map(|row| row.3)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let grouping = plan(
        &mut connection,
        "SELECT MAX(as_of), tier, abc, rfm_segment, COUNT(*), SUM(monetary_minor), SUM(clv), \
         SUM(score) FROM customer_values GROUP BY tier, abc, rfm_segment",
    )
    .await;
    assert!(
        grouping.contains("COVERING INDEX customer_values_report"),
        "{grouping}"
    );
    let counts = plan(
        &mut connection,
        "SELECT (SELECT COUNT(*) FROM customer_health WHERE health IS NULL), \
         (SELECT COUNT(*) FROM customer_health WHERE at_risk AND health IS NOT NULL)",
    )
    .await;
    assert!(
        counts.contains("customer_health_unknown") && counts.contains("customer_health_at_risk"),
        "{counts}"
    );
}
