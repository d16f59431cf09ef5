//! The service reports over the customers in a view, as of the clock: baseline coverage, the
//! service report (shares of customers, value and effort; SLA attainment; follow-up recency)
//! and the value × service quadrant — the facts gathered here in three reads (customers,
//! interactions grouped by customer, tickets of the window), the figures computed by
//! `allot_core::service::report`; and the daily job that tells managers which of their
//! customers fail a baseline check.

use std::collections::{BTreeMap, HashMap};

use allot_core::access::approval_chain;
use allot_core::activity::{InteractionKind, TicketKind, TicketSeverity};
use allot_core::service::report::{
    baseline_coverage, quadrant_report, service_report, CheckCoverage, QuadrantReport,
    ServiceFacts, ServiceReport, TicketFacts,
};
use allot_core::service::{ticket_standing, TicketTimes};
use allot_core::value::ValuePolicy;
use allot_core::{Clock, RepId};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::database::direct::{read_all_rows, stored_time_column, with_direct_sqlite};
use crate::database::pieces::StatementPieces;
use crate::database::time::parse_stored_time;
use crate::database::{on_backend, sql, Connected, Connection};
use crate::error::{StoreError, StoreResult};
use crate::lifecycle::notifications::{notify_all, NewNotification};
use crate::lifecycle::View;
use crate::{Store, StoredTime, WriteTransaction};
use sqlx::{Postgres, Sqlite};

/// The daily job's name in `job_runs`: baseline alerts and skew alerts over one reading of the
/// facts (at a million customers the reading is most of the work).
pub const SERVICE_CHECKS_JOB: &str = "service_checks";

/// What the daily service checks did.
pub(crate) struct ServiceChecks {
    pub baseline: BaselineAlertSummary,
    pub skew: SkewSummary,
    /// Reps whose performance weight changed, when a rule routes by performance.
    pub performance_weights: Option<usize>,
}

/// The daily service checks: managers told of customers failing a baseline check, skew alerts
/// raised and closed.
pub(crate) async fn service_checks_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    clock: Clock,
    webhook: bool,
) -> StoreResult<ServiceChecks> {
    let service = &policy.service;
    let skews_asked = !service.effort_bands.is_empty()
        || service.new_customer_budget.is_some()
        || service.overload_threshold.is_some();
    let performance_asked = rules_use_performance(&mut *write).await?;
    let facts = if service.baseline.is_empty() && !skews_asked && !performance_asked {
        Vec::new()
    } else {
        service_facts(&mut *write, policy, None, clock.now()).await?
    };
    let baseline = baseline_alerts_in(write, policy, &facts, clock, webhook).await?;
    let skew = skew_alerts_in(write, policy, &facts, skews_asked, clock, webhook).await?;
    let performance_weights = if performance_asked {
        Some(store_performance_weights(write, policy, &facts, clock).await?)
    } else {
        None
    };
    Ok(ServiceChecks {
        baseline,
        skew,
        performance_weights,
    })
}

/// Whether the rules in force have a rule of the `performance` strategy.
async fn rules_use_performance(source: &mut impl Connected) -> StoreResult<bool> {
    let newest: Option<String> = on_backend!(&mut *source, |connection, Db| {
        sql!(Db; "SELECT source FROM rule_versions ORDER BY version DESC LIMIT 1")
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
    });
    Ok(newest
        .and_then(|source| allot_core::rules::RuleSet::parse(&source).ok())
        .is_some_and(|rules| {
            rules
                .rules
                .iter()
                .any(|rule| rule.strategy == allot_core::rules::StrategyKind::Performance)
        }))
}

/// Each rep's performance weight from the performance report (reps owning no customer: 1),
/// written beside its load where routing reads it; returns how many changed.
async fn store_performance_weights(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    facts: &[ServiceFacts],
    clock: Clock,
) -> StoreResult<usize> {
    let report = allot_core::service::report::performance_report(
        facts,
        clock.now(),
        policy.service.window_days,
    );
    let scored: HashMap<&str, f64> = report
        .reps
        .iter()
        .map(|rep| {
            (
                rep.rep_id.as_str(),
                allot_core::strategy::performance_weight(rep.score),
            )
        })
        .collect();
    let (_, reps) = crate::organisation::load_teams_and_reps(&mut *write).await?;
    let changes: Vec<(String, f64)> = reps
        .iter()
        .filter_map(|state| {
            let weight = scored.get(state.rep.id.as_str()).copied().unwrap_or(1.0);
            ((state.load.performance_weight - weight).abs() > 1e-9)
                .then(|| (state.rep.id.to_string(), weight))
        })
        .collect();
    let rows: Vec<Vec<crate::database::bulk::Value<'_>>> = changes
        .iter()
        .map(|(id, weight)| {
            vec![
                crate::database::bulk::Value::Text(id),
                crate::database::bulk::Value::Real(*weight),
            ]
        })
        .collect();
    crate::database::bulk::update_rows(
        write.connection(),
        &crate::database::bulk::UpdateRows {
            table: "reps",
            key: &[("id", crate::database::bulk::Kind::Text)],
            still: None,
            set: &[("performance_weight", crate::database::bulk::Kind::Real)],
            rows: &rows,
            only_if: None,
            caller_fails_unless_every_row_changes: false,
        },
    )
    .await?;
    Ok(changes.len())
}

/// Every service report at once.
#[derive(Debug, Clone)]
pub struct ServiceOverview {
    pub service: ServiceReport,
    pub baseline: BaselineReport,
    pub quadrant: QuadrantReport,
    pub performance: allot_core::service::report::PerformanceReport,
}

/// Baseline coverage as of a time.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselineReport {
    pub as_of: String,
    pub checks: Vec<CheckCoverage>,
}

#[derive(sqlx_macros::FromRow)]
struct CustomerRow {
    id: String,
    owner_id: Option<String>,
    team_id: Option<String>,
    tier: Option<String>,
    stage: Option<String>,
    score: Option<f64>,
    created_at: Option<StoredTime>,
    owned_since: Option<StoredTime>,
}

#[derive(sqlx_macros::FromRow)]
struct InteractionTotals {
    customer_id: String,
    interactions: i64,
    minutes: f64,
    last_real: Option<StoredTime>,
    last_call: Option<StoredTime>,
    last_visit: Option<StoredTime>,
    last_email: Option<StoredTime>,
    last_meeting: Option<StoredTime>,
    last_message: Option<StoredTime>,
}

impl InteractionTotals {
    fn apply_to(self, facts: &mut ServiceFacts) {
        facts.interactions = u32::try_from(self.interactions).unwrap_or(u32::MAX);
        facts.minutes = self.minutes;
        facts.last_real_follow_up = self.last_real.map(|time| time.0);
        for (kind, last) in [
            (InteractionKind::Call, self.last_call),
            (InteractionKind::Visit, self.last_visit),
            (InteractionKind::Email, self.last_email),
            (InteractionKind::Meeting, self.last_meeting),
            (InteractionKind::Message, self.last_message),
        ] {
            if let Some(last) = last {
                facts.last_of_kind.insert(kind, last.0);
            }
        }
    }
}

/// One customer's interactions as the ordered scan has seen them so far; the times as stored
/// text in buffers kept from customer to customer.
#[derive(Default)]
struct CustomerInteractions {
    customer_id: String,
    interactions: i64,
    minutes: f64,
    last_real: Option<String>,
    /// In the order of [`InteractionKind::ALL`].
    last_of_kind: [Option<String>; 5],
}

impl CustomerInteractions {
    fn start(&mut self, customer_id: &str) {
        self.customer_id.clear();
        self.customer_id.push_str(customer_id);
        self.interactions = 0;
        self.minutes = 0.0;
        self.last_real = None;
        self.last_of_kind = Default::default();
    }

    fn totals(&self) -> StoreResult<InteractionTotals> {
        let time = |text: &Option<String>| stored_time(text.clone());
        let [call, visit, email, meeting, message] = &self.last_of_kind;
        Ok(InteractionTotals {
            customer_id: self.customer_id.clone(),
            interactions: self.interactions,
            minutes: self.minutes,
            last_real: time(&self.last_real)?,
            last_call: time(call)?,
            last_visit: time(visit)?,
            last_email: time(email)?,
            last_meeting: time(meeting)?,
            last_message: time(message)?,
        })
    }
}

/// Replaces a kept text with `text`, reusing its buffer.
fn set_text(kept: &mut Option<String>, text: &str) {
    match kept {
        Some(buffer) => {
            buffer.clear();
            buffer.push_str(text);
        }
        None => *kept = Some(text.to_string()),
    }
}

#[derive(sqlx_macros::FromRow)]
struct TicketRow {
    customer_id: String,
    opened_at: StoredTime,
    kind: String,
    severity: String,
    first_response_at: Option<StoredTime>,
    resolved_at: Option<StoredTime>,
    closed_at: Option<StoredTime>,
    reopened_at: Option<StoredTime>,
    tier: Option<String>,
    rating: Option<i64>,
}

/// Every customer in `view` with what the reports need, as of the clock.
async fn service_facts(
    source: &mut impl Connected,
    policy: &ValuePolicy,
    view: Option<&View>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<ServiceFacts>> {
    let window_start = now - Duration::days(i64::from(policy.service.window_days));
    let customers = read_customers(&mut *source, view).await?;
    let totals = read_interaction_totals(&mut *source, policy, window_start, now).await?;
    let purchases: Vec<(String, i64, Option<StoredTime>)> = on_backend!(
        &mut *source,
        |connection, Db| {
            sql!(Db; "SELECT customer_id, CAST(COALESCE(SUM(CASE WHEN at >= ", bind(StoredTime(window_start)),
            " THEN amount_minor ELSE 0 END), 0) AS BIGINT), MIN(CASE WHEN amount_minor > 0 THEN at END) FROM transactions WHERE at <= ",
            bind(StoredTime(now)), " GROUP BY customer_id")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
        }
    );
    let mut tickets_of_window = StatementPieces::default();
    tickets_of_window
        .sql("SELECT customer_id, opened_at, kind, severity, first_response_at, resolved_at, closed_at, reopened_at, tier, rating FROM tickets WHERE opened_at <= ")
        .time(now)
        .sql(" AND (opened_at >= ")
        .time(window_start)
        .sql(" OR (closed_at IS NULL AND resolved_at IS NULL))");
    let tickets: Vec<TicketRow> = read_all_rows(
        &mut *source,
        tickets_of_window,
        |row| {
            let time = |index| stored_time_column(row, index).map(|time| time.map(StoredTime));
            Ok(TicketRow {
                customer_id: row.get(0)?,
                opened_at: time(1)?.ok_or_else(|| {
                    StoreError::Corrupt("a ticket without its opening".to_string())
                })?,
                kind: row.get(2)?,
                severity: row.get(3)?,
                first_response_at: time(4)?,
                resolved_at: time(5)?,
                closed_at: time(6)?,
                reopened_at: time(7)?,
                tier: row.get(8)?,
                rating: row.get(9)?,
            })
        },
        Ok,
    )
    .await?;
    let new_since = now - Duration::days(i64::from(policy.service.new_customer_days));
    // In byte order of ids, found by binary search: a map of a million facts by id, then a
    // list in read order moved out of it, was a third of the service report's time (memory
    // copies and fresh pages).
    let mut facts: Vec<ServiceFacts> = customers
        .into_iter()
        .map(|row| ServiceFacts {
            is_new: row
                .stage
                .as_ref()
                .is_some_and(|stage| policy.service.new_customer_stages.contains(stage))
                || row.created_at.is_some_and(|created| created.0 >= new_since),
            customer_id: row.id,
            owner_id: row.owner_id,
            team_id: row.team_id,
            tier: row.tier,
            value: row.score.unwrap_or(0.0),
            owned_since: row.owned_since.or(row.created_at).map(|time| time.0),
            ..Default::default()
        })
        .collect();
    facts.sort_unstable_by(|left, right| left.customer_id.cmp(&right.customer_id));
    for total in totals {
        let Some(facts) = facts_of(&mut facts, &total.customer_id) else {
            continue;
        };
        total.apply_to(facts);
    }
    for (customer_id, revenue_minor, first_purchase) in purchases {
        if let Some(facts) = facts_of(&mut facts, &customer_id) {
            facts.revenue_minor = revenue_minor;
            facts.first_purchase = first_purchase.map(|time| time.0);
        }
    }
    for ticket in tickets {
        let Some(facts) = facts_of(&mut facts, &ticket.customer_id) else {
            continue;
        };
        let corrupt = |error: allot_core::FieldError| StoreError::Corrupt(error.to_string());
        let severity =
            TicketSeverity::parse_field("severity", &ticket.severity).map_err(corrupt)?;
        let kind = TicketKind::parse_field("kind", &ticket.kind).map_err(corrupt)?;
        let resolved_at = ticket.resolved_at.or(ticket.closed_at).map(|time| time.0);
        let times = TicketTimes {
            opened_at: ticket.opened_at.0,
            severity,
            first_response_at: ticket.first_response_at.map(|time| time.0),
            resolved_at,
            reopened_at: ticket.reopened_at.map(|time| time.0),
        };
        let standing = ticket_standing(&policy.service, ticket.tier.as_deref(), &times, now, 0);
        facts.tickets.push(TicketFacts {
            opened_at: times.opened_at,
            kind,
            answered_at: times.first_response_at.or(resolved_at),
            resolved_at,
            first_response_due: standing.first_response_due,
            resolution_due: standing.resolution_due,
            rating: ticket.rating.and_then(|rating| u8::try_from(rating).ok()),
        });
    }
    Ok(facts)
}

/// The facts of `customer_id` in facts sorted by id.
fn facts_of<'f>(facts: &'f mut [ServiceFacts], customer_id: &str) -> Option<&'f mut ServiceFacts> {
    let position = facts
        .binary_search_by(|facts| facts.customer_id.as_str().cmp(customer_id))
        .ok()?;
    facts.get_mut(position)
}

/// The customers' columns the reports read, each customer's newest ownership event looked up
/// on its own (for a view).
const CUSTOMER_READ: &str =
    "SELECT c.id, c.owner_id, r.team_id, c.tier, c.stage, v.score, c.created_at, \
    (SELECT MAX(e.at) FROM events AS e WHERE e.customer_id = c.id AND e.kind LIKE 'ownership.%') AS owned_since \
    FROM customers AS c LEFT JOIN reps AS r ON r.id = c.owner_id \
    LEFT JOIN customer_values AS v ON v.customer_id = c.id WHERE 1 = 1";

/// The same columns for every customer, the newest ownership events from one grouped read of
/// the log ([`OWNED_SINCE_READ`]): a million lookups of one customer's events took twice as
/// long (SQLite shell, 1,000,000 customers: 2.8 s against 1.9 s).
const EVERY_CUSTOMER_READ: &str =
    "SELECT c.id, c.owner_id, r.team_id, c.tier, c.stage, v.score, c.created_at, NULL AS owned_since \
    FROM customers AS c LEFT JOIN reps AS r ON r.id = c.owner_id \
    LEFT JOIN customer_values AS v ON v.customer_id = c.id";

/// Each customer's newest ownership event.
const OWNED_SINCE_READ: &str = "SELECT customer_id, MAX(at) FROM events \
    WHERE kind LIKE 'ownership.%' GROUP BY customer_id";

fn stored_time(raw: Option<String>) -> StoreResult<Option<StoredTime>> {
    raw.map(|raw| parse_stored_time(&raw).map(StoredTime))
        .transpose()
        .map_err(StoreError::Corrupt)
}

/// Every customer in `view`. On SQLite the rows are read on the connection's own handle: a
/// million rows handed one by one from sqlx's worker thread cost four times the query; and with
/// no view, the newest ownership events by one grouped read (measured on SQLite only, so
/// PostgreSQL keeps the lookup per customer).
async fn read_customers(
    source: &mut impl Connected,
    view: Option<&View>,
) -> StoreResult<Vec<CustomerRow>> {
    if view.is_none() && matches!(source.connection(), Connection::Sqlite(_)) {
        let mut customers = read_all_rows(
            &mut *source,
            EVERY_CUSTOMER_READ,
            customer_of_direct_row,
            Ok,
        )
        .await?;
        let owned_since: HashMap<String, Option<StoredTime>> = read_all_rows(
            &mut *source,
            OWNED_SINCE_READ,
            |row| Ok((row.get(0)?, stored_time_column(row, 1)?.map(StoredTime))),
            Ok,
        )
        .await?
        .into_iter()
        .collect();
        for customer in &mut customers {
            customer.owned_since = owned_since.get(&customer.id).copied().flatten();
        }
        return Ok(customers);
    }
    let view_reps = View::rep_list(view);
    match source.connection() {
        Connection::Sqlite(connection) => {
            let mut query = sql!(Sqlite; CUSTOMER_READ);
            crate::lifecycle::push_in_view!(
                query,
                view,
                view_reps.as_deref(),
                "c.id",
                "c.owner_id"
            );
            let statement = query.sql().to_string();
            let values = crate::lifecycle::in_view_values(view, view_reps.as_deref());
            with_direct_sqlite(connection, move |direct| {
                let mut prepared = direct.prepare(&statement)?;
                let mut rows = prepared.query(rusqlite::params_from_iter(values.iter()))?;
                let mut customers = Vec::new();
                while let Some(row) = rows.next()? {
                    customers.push(customer_of_direct_row(row)?);
                }
                Ok(customers)
            })
            .await
        }
        Connection::Postgres(connection) => {
            let mut query = sql!(Postgres; CUSTOMER_READ);
            crate::lifecycle::push_in_view!(
                query,
                view,
                view_reps.as_deref(),
                "c.id",
                "c.owner_id"
            );
            Ok(query.build_query_as().fetch_all(&mut *connection).await?)
        }
    }
}

/// A customer row of [`CUSTOMER_READ`] or [`EVERY_CUSTOMER_READ`] read on SQLite's handle.
fn customer_of_direct_row(row: &rusqlite::Row<'_>) -> StoreResult<CustomerRow> {
    Ok(CustomerRow {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        team_id: row.get(2)?,
        tier: row.get(3)?,
        stage: row.get(4)?,
        score: row.get(5)?,
        created_at: stored_time_column(row, 6)?.map(StoredTime),
        owned_since: stored_time_column(row, 7)?.map(StoredTime),
    })
}

/// The window's interactions and minutes, the last real follow-up and the last interaction of
/// each kind, per customer: one pass over the log, folded here on SQLite, grouped by
/// PostgreSQL.
async fn read_interaction_totals(
    source: &mut impl Connected,
    policy: &ValuePolicy,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<InteractionTotals>> {
    let mut pieces = StatementPieces::default();
    pieces
        .sql("SELECT customer_id, CAST(SUM(CASE WHEN at >= ")
        .time(window_start)
        .sql(" THEN 1 ELSE 0 END) AS BIGINT) AS interactions, CAST(COALESCE(SUM(CASE WHEN at >= ")
        .time(window_start)
        .sql(" THEN minutes ELSE 0 END), 0) AS DOUBLE PRECISION) AS minutes, MAX(CASE WHEN (1 = 0");
    pieces
        .real_follow_up_terms("", &policy.pool.real_follow_up)
        .sql(") THEN at END) AS last_real");
    for kind in InteractionKind::ALL {
        pieces.sql(format!(
            ", MAX(CASE WHEN kind = '{}' THEN at END) AS last_{}",
            kind.as_str(),
            kind.as_str()
        ));
    }
    pieces
        .sql(" FROM interactions WHERE at <= ")
        .time(now)
        .sql(" GROUP BY customer_id");
    match source.connection() {
        Connection::Sqlite(connection) => {
            // Folded here from an ordered scan of the covering index (migration 0020): SQLite's
            // grouping evaluated the nine expressions per interaction at twice the scan's cost.
            // Times compare as their stored text, as SQLite compares them.
            let window_start = StoredTime(window_start).text();
            let until = StoredTime(now).text();
            let real_follow_up = policy.pool.real_follow_up.clone();
            with_direct_sqlite(connection, move |direct| {
                let mut prepared = direct.prepare(
                    "SELECT customer_id, at, kind, outcome, minutes FROM interactions WHERE at <= ? \
                     ORDER BY customer_id, at, kind, outcome, minutes",
                )?;
                let mut rows = prepared.query([until.as_str()])?;
                let mut totals = Vec::new();
                let mut current = CustomerInteractions::default();
                while let Some(row) = rows.next()? {
                    let text = |index| {
                        row.get_ref(index)?.as_str().map_err(|error| {
                            StoreError::Corrupt(format!("an interaction's text: {error}"))
                        })
                    };
                    let customer_id = text(0)?;
                    let at = text(1)?;
                    let kind = text(2)?;
                    let outcome = text(3)?;
                    if current.customer_id != customer_id {
                        if !current.customer_id.is_empty() {
                            totals.push(current.totals()?);
                        }
                        current.start(customer_id);
                    }
                    if at >= window_start.as_str() {
                        current.interactions += 1;
                        current.minutes += row.get::<_, f64>(4)?;
                    }
                    let real = real_follow_up.iter().any(|real| {
                        real.kind.as_str() == kind
                            && real
                                .outcome
                                .as_deref()
                                .is_none_or(|wanted| wanted == outcome)
                    });
                    if real {
                        set_text(&mut current.last_real, at);
                    }
                    if let Some(position) = InteractionKind::ALL
                        .iter()
                        .position(|known| known.as_str() == kind)
                    {
                        set_text(&mut current.last_of_kind[position], at);
                    }
                }
                if !current.customer_id.is_empty() {
                    totals.push(current.totals()?);
                }
                Ok(totals)
            })
            .await
        }
        Connection::Postgres(connection) => Ok(pieces
            .for_postgres()
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?),
    }
}

impl Store {
    /// Coverage of every `[[service.baseline]]` check over the customers in `view`.
    pub async fn baseline_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<BaselineReport> {
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let facts = service_facts(&mut read, &policy, view, clock.now()).await?;
        Ok(BaselineReport {
            as_of: StoredTime(clock.now()).text(),
            checks: baseline_coverage(&policy.service.baseline, &facts, clock.now()),
        })
    }

    /// The service report over the customers in `view`: per tier, team and rep.
    pub async fn service_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<ServiceReport> {
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let facts = service_facts(&mut read, &policy, view, clock.now()).await?;
        Ok(service_report(
            &facts,
            &policy.service.baseline,
            clock.now(),
            policy.service.window_days,
        ))
    }

    /// Every service report over the customers in `view` from one reading of the facts (the
    /// web page shows them together).
    pub async fn service_overview(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<ServiceOverview> {
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let now = clock.now();
        let facts = service_facts(&mut read, &policy, view, now).await?;
        let service = &policy.service;
        Ok(ServiceOverview {
            service: service_report(&facts, &service.baseline, now, service.window_days),
            baseline: BaselineReport {
                as_of: StoredTime(now).text(),
                checks: baseline_coverage(&service.baseline, &facts, now),
            },
            quadrant: quadrant_report(
                &facts,
                service.quadrant_value,
                service.quadrant_minutes,
                service.window_days,
            ),
            performance: allot_core::service::report::performance_report(
                &facts,
                now,
                service.window_days,
            ),
        })
    }

    /// Each rep's performance over the window, over the customers in `view`.
    pub async fn performance_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<allot_core::service::report::PerformanceReport> {
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let facts = service_facts(&mut read, &policy, view, clock.now()).await?;
        Ok(allot_core::service::report::performance_report(
            &facts,
            clock.now(),
            policy.service.window_days,
        ))
    }

    /// The value × service quadrant over the customers in `view`.
    pub async fn quadrant_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<QuadrantReport> {
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let facts = service_facts(&mut read, &policy, view, clock.now()).await?;
        let service = &policy.service;
        Ok(quadrant_report(
            &facts,
            service.quadrant_value,
            service.quadrant_minutes,
            service.window_days,
        ))
    }
}

/// What the daily baseline job told.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselineAlertSummary {
    /// Checks with coverage under 100%.
    pub checks_failing: usize,
    /// Red alerts sent (one per check and manager, naming the manager's failing customers).
    pub alerts: usize,
}

/// Tells each manager, once a day per check, which of its customers fail a baseline check
/// (the owner's team manager; the admins for customers of no team's manager).
async fn baseline_alerts_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    facts: &[ServiceFacts],
    clock: Clock,
    webhook: bool,
) -> StoreResult<BaselineAlertSummary> {
    let mut summary = BaselineAlertSummary::default();
    if policy.service.baseline.is_empty() {
        return Ok(summary);
    }
    let now = clock.now();
    let coverage = baseline_coverage(&policy.service.baseline, facts, now);
    let (teams, reps) = crate::organisation::load_teams_and_reps(&mut *write).await?;
    let reps: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
    let mut managers: HashMap<String, Option<RepId>> = HashMap::new();
    let today = clock.today();
    let mut alerts: Vec<(Option<RepId>, String, String)> = Vec::new();
    for check in &coverage {
        if check.failing_total == 0 {
            continue;
        }
        summary.checks_failing += 1;
        let mut by_manager: BTreeMap<Option<RepId>, Vec<&str>> = BTreeMap::new();
        for failing in &check.failing {
            let manager = match &failing.owner_id {
                None => None,
                Some(owner) => managers
                    .entry(owner.clone())
                    .or_insert_with(|| {
                        RepId::parse(owner).ok().and_then(|owner| {
                            approval_chain(&owner, 1, &teams, &reps)
                                .into_iter()
                                .next()
                                .flatten()
                        })
                    })
                    .clone(),
            };
            by_manager
                .entry(manager)
                .or_default()
                .push(&failing.customer_id);
        }
        for (manager, customers) in by_manager {
            let shown: Vec<&str> = customers.iter().take(20).copied().collect();
            let more = customers.len().saturating_sub(shown.len());
            let text = format!(
                "baseline \"{}\" is at {:.1}% ({} of {}): {} of your customers fail it: {}{}",
                check.name,
                check.overall.coverage * 100.0,
                check.overall.passing,
                check.overall.applies,
                customers.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            let key = format!(
                "baseline:{}:{}:{today}",
                check.name,
                manager.as_ref().map_or("admins", RepId::as_str)
            );
            alerts.push((manager, text, key));
        }
    }
    let notifications: Vec<NewNotification<'_>> = alerts
        .iter()
        .map(|(manager, text, key)| NewNotification {
            recipient: manager.as_ref(),
            kind: "baseline_failing",
            customer_id: None,
            transfer_id: None,
            ticket_id: None,
            text: text.clone(),
            once_key: Some(key.clone()),
        })
        .collect();
    let stored = notify_all(&mut *write, &notifications, now, webhook).await?;
    summary.alerts = stored.iter().filter(|stored| **stored).count();
    Ok(summary)
}

/// One stored skew alert.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAlert {
    pub id: i64,
    /// tier_effort, new_customer_budget or rep_overload.
    pub kind: String,
    /// The tier, team or rep.
    pub subject: String,
    pub message: String,
    pub value: f64,
    pub raised_at: String,
    pub closed_at: Option<String>,
    /// open or closed.
    pub status: String,
}

#[derive(sqlx_macros::FromRow)]
struct ServiceAlertRow {
    id: i64,
    kind: String,
    subject: String,
    message: String,
    value: f64,
    raised_at: StoredTime,
    closed_at: Option<StoredTime>,
    status: String,
}

impl ServiceAlertRow {
    fn alert(self) -> ServiceAlert {
        ServiceAlert {
            id: self.id,
            kind: self.kind,
            subject: self.subject,
            message: self.message,
            value: self.value,
            raised_at: self.raised_at.text(),
            closed_at: self.closed_at.map(StoredTime::text),
            status: self.status,
        }
    }
}

/// What the skew job did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkewSummary {
    pub raised: usize,
    pub closed: usize,
    pub open: usize,
}

/// Raises an alert for each skew found that has none open, and closes the open ones no longer
/// found; each raised alert tells the admins (a tier), the team's manager (a team) or the rep's
/// manager (a rep).
async fn skew_alerts_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    facts: &[ServiceFacts],
    skews_asked: bool,
    clock: Clock,
    webhook: bool,
) -> StoreResult<SkewSummary> {
    let now = clock.now();
    let service = &policy.service;
    let mut summary = SkewSummary::default();
    let (teams, reps) = crate::organisation::load_teams_and_reps(&mut *write).await?;
    let findings = if !skews_asked {
        Vec::new()
    } else {
        let report = service_report(facts, &service.baseline, now, service.window_days);
        let loads: Vec<allot_core::service::report::RepLoad> = reps
            .iter()
            .filter(|state| state.rep.active)
            .filter_map(|state| {
                Some(allot_core::service::report::RepLoad {
                    rep_id: state.rep.id.to_string(),
                    team_id: state.rep.team_id.as_ref()?.to_string(),
                    workload: state.load.owned_workload,
                })
            })
            .collect();
        allot_core::service::report::skew_findings(&report, service, &loads)
    };
    let open: Vec<ServiceAlertRow> = on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "SELECT id, kind, subject, message, value, raised_at, closed_at, status FROM service_alerts WHERE status = 'open'")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
    });
    let reps_only: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
    let mut told: Vec<(Option<RepId>, String, String)> = Vec::new();
    for finding in &findings {
        if open
            .iter()
            .any(|alert| alert.kind == finding.kind && alert.subject == finding.subject)
        {
            continue;
        }
        on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "INSERT INTO service_alerts (kind, subject, message, value, raised_at, status) VALUES (",
                bind(finding.kind.as_str()), ", ", bind(finding.subject.as_str()), ", ", bind(finding.message.as_str()), ", ",
                bind(finding.value), ", ", bind(StoredTime(now)), ", 'open')")
                .build()
                .execute(&mut *connection)
                .await?;
        });
        summary.raised += 1;
        let recipient = match finding.kind.as_str() {
            "new_customer_budget" => teams
                .iter()
                .find(|team| team.id.as_str() == finding.subject)
                .and_then(|team| team.manager_id.clone()),
            "rep_overload" => RepId::parse(&finding.subject).ok().and_then(|rep| {
                approval_chain(&rep, 1, &teams, &reps_only)
                    .into_iter()
                    .next()
                    .flatten()
            }),
            _ => None,
        };
        told.push((
            recipient,
            finding.message.clone(),
            format!(
                "skew:{}:{}:{}",
                finding.kind,
                finding.subject,
                StoredTime(now).text()
            ),
        ));
    }
    for alert in &open {
        let still = findings
            .iter()
            .any(|finding| finding.kind == alert.kind && finding.subject == alert.subject);
        if still {
            continue;
        }
        on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "UPDATE service_alerts SET status = 'closed', closed_at = ", bind(StoredTime(now)),
                " WHERE id = ", bind(alert.id))
                .build()
                .execute(&mut *connection)
                .await?;
        });
        summary.closed += 1;
    }
    summary.open = open.len() + summary.raised - summary.closed;
    let notifications: Vec<NewNotification<'_>> = told
        .iter()
        .map(|(recipient, text, key)| NewNotification {
            recipient: recipient.as_ref(),
            kind: "service_skew",
            customer_id: None,
            transfer_id: None,
            ticket_id: None,
            text: text.clone(),
            once_key: Some(key.clone()),
        })
        .collect();
    notify_all(&mut *write, &notifications, now, webhook).await?;
    Ok(summary)
}

impl Store {
    /// Skew alerts, newest first: open ones only unless `all`. A manager sees the tiers' and
    /// those of the teams and reps of its subtree.
    pub async fn service_alerts(
        &self,
        principal: &allot_core::access::Principal,
        all: bool,
    ) -> StoreResult<Vec<ServiceAlert>> {
        let mut read = self.database.begin_read().await?;
        let rows: Vec<ServiceAlertRow> = on_backend!(&mut read, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, kind, subject, message, value, raised_at, closed_at, status FROM service_alerts");
            if !all {
                query.push(" WHERE status = 'open'");
            }
            query.push(" ORDER BY id DESC LIMIT 1000");
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        if principal.is_admin() {
            return Ok(rows.into_iter().map(ServiceAlertRow::alert).collect());
        }
        let (_, reps) = crate::organisation::load_teams_and_reps(&mut read).await?;
        let seen_teams: std::collections::BTreeSet<String> = reps
            .iter()
            .filter(|state| principal.sees_rep(&state.rep.id))
            .filter_map(|state| state.rep.team_id.as_ref().map(ToString::to_string))
            .collect();
        Ok(rows
            .into_iter()
            .filter(|row| match row.kind.as_str() {
                "rep_overload" => {
                    RepId::parse(&row.subject).is_ok_and(|rep| principal.sees_rep(&rep))
                }
                "new_customer_budget" => seen_teams.contains(&row.subject),
                _ => true,
            })
            .map(ServiceAlertRow::alert)
            .collect())
    }
}
