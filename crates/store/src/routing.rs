//! Rules versions, routing runs (the whole pool, or one customer) and stored decisions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use allot_core::fairness::{workload_report, WorkloadReport};
use allot_core::routing::{render_stored_trace, DecisionRecord, RoutingEngine, StoredTrace};
use allot_core::rules::RuleSet;
use allot_core::strategy::{RepState, StrategyState};
use allot_core::update::GivenColumns;
use allot_core::{Clock, Customer, CustomerId, RepId};
use serde::Serialize;
use sqlx::Row;

use crate::batch::RowSource;
use crate::customers::upsert_customer;
use crate::error::{StoreError, StoreResult};
use crate::events::OwnershipChange;
use crate::organisation::{load_teams_and_reps, Progress};
use crate::rows::{customer_from_row, optional_text, text, CUSTOMER_COLUMNS};
use crate::{format_timestamp, Backend, Store, WriteTransaction};

/// An engine kept between routing transactions, with the snapshot it reflects.
pub(crate) struct CachedEngine {
    generation: i64,
    rules_version: Option<i64>,
    engine: RoutingEngine,
}

async fn routing_generation(write: &mut WriteTransaction) -> StoreResult<i64> {
    let row = sqlx::query("SELECT value FROM routing_generation WHERE id = 1")
        .fetch_one(&mut *write.transaction)
        .await?;
    Ok(row.try_get("value")?)
}

/// A stored rules version.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesVersion {
    pub version: i64,
    pub source: String,
    pub actor: String,
    pub created_at: String,
}

/// A decision as stored, with when and by whom it was made.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredDecision {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub rules_version: Option<i64>,
    #[serde(flatten)]
    pub decision: DecisionRecord,
}

/// Totals of a routing run.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteSummary {
    pub considered: usize,
    pub routed: usize,
    pub left_in_pool: usize,
    /// Customers left in the pool, counted by reason.
    pub pool_reasons: BTreeMap<String, usize>,
    /// Customers routed, counted by rule.
    pub routed_by_rule: BTreeMap<String, usize>,
    pub rules_version: i64,
}

/// Result of routing the pool: the totals, and every decision in words when asked for.
#[derive(Debug, Clone)]
pub struct RouteRun {
    pub summary: RouteSummary,
    /// Empty unless `route_pool` was asked to explain: writing every trace out in words costs
    /// more than the routing itself.
    pub decisions: Vec<DecisionRecord>,
}

/// Result of routing one customer through the API.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SingleRoute {
    /// False when the customer already had an owner and the earlier decision is returned.
    pub routed_now: bool,
    pub decision: DecisionRecord,
}

/// Decisions waiting to be written, flushed in multi-row statements: one UPDATE for the owners,
/// one INSERT for the events, one for the decisions. Row-at-a-time statements were the cost of
/// routing large pools; batching keeps the same transaction and the same guarantees.
struct DecisionBatch<'a> {
    backend: Backend,
    actor: &'a str,
    at: &'a str,
    rules_version: Option<i64>,
    assignments: Vec<PendingAssignment>,
    decisions: Vec<PendingDecision>,
}

struct PendingAssignment {
    customer_id: String,
    owner_id: String,
    rule: Option<String>,
    reason: String,
}

struct PendingDecision {
    customer_id: String,
    owner_id: Option<String>,
    rule: Option<String>,
    strategy: Option<String>,
    reason: String,
    trace: String,
}

/// The order routing takes the pool in: oldest first, those without a creation time last,
/// then by id. The SQLite index `customers_pool_order` is on these expressions.
const POOL_ORDER: [&str; 3] = [
    "CASE WHEN created_at IS NULL THEN 1 ELSE 0 END",
    "COALESCE(created_at, '')",
    "id",
];

/// Decisions per flush; each flush writes three statements of one JSON parameter each.
const BATCH_ROWS: usize = 2_000;

impl<'a> DecisionBatch<'a> {
    fn new(backend: Backend, actor: &'a str, at: &'a str, rules_version: Option<i64>) -> Self {
        DecisionBatch {
            backend,
            actor,
            at,
            rules_version,
            assignments: Vec::new(),
            decisions: Vec::new(),
        }
    }

    /// Queues a decision; `trace` is its stored form ([`StoredTrace`]), not `record.trace`.
    fn add(&mut self, record: &DecisionRecord, trace: &StoredTrace) -> StoreResult<()> {
        let trace =
            serde_json::to_string(trace).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        if let Some(owner) = &record.owner_id {
            self.assignments.push(PendingAssignment {
                customer_id: record.customer_id.clone(),
                owner_id: owner.clone(),
                rule: record.rule.clone(),
                reason: record.reason.clone(),
            });
        }
        self.decisions.push(PendingDecision {
            customer_id: record.customer_id.clone(),
            owner_id: record.owner_id.clone(),
            rule: record.rule.clone(),
            strategy: record.strategy.clone(),
            reason: record.reason.clone(),
            trace,
        });
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.decisions.len() >= BATCH_ROWS
    }

    /// Writes everything pending, each kind of row as one JSON parameter. The owner update
    /// only touches customers still in the pool; if it touches fewer rows than it should,
    /// another writer got there first and the whole transaction is refused: the database, not
    /// only this code, keeps one owner per customer.
    async fn flush(&mut self, write: &mut WriteTransaction) -> StoreResult<()> {
        let corrupt = |error: serde_json::Error| StoreError::Corrupt(error.to_string());
        if !self.assignments.is_empty() {
            // One set of rows for both statements: the owner update reads c0 and c1, the
            // events all four.
            let assigned = RowSource::new(
                self.backend,
                self.assignments
                    .iter()
                    .map(|assignment| {
                        vec![
                            Some(assignment.customer_id.as_str()),
                            Some(assignment.owner_id.as_str()),
                            Some(assignment.reason.as_str()),
                            assignment.rule.as_deref(),
                        ]
                    })
                    .collect(),
            )
            .map_err(corrupt)?;
            let next = assigned.next_parameter();
            let sql = format!(
                // MATERIALIZED: otherwise SQLite drives the join from customers in the pool,
                // reading the JSON once per pool customer.
                "WITH assigned(id, owner) AS MATERIALIZED (SELECT row_source.c0, row_source.c1 FROM {})
                 UPDATE customers SET owner_id = assigned.owner, updated_at = ${next}
                 FROM assigned WHERE customers.id = assigned.id AND customers.owner_id IS NULL",
                assigned.from,
            );
            let update_started = std::time::Instant::now();
            let updated = assigned
                .bind(sqlx::query(&sql))
                .bind(self.at)
                .execute(&mut *write.transaction)
                .await?;
            tracing::trace!(elapsed = ?update_started.elapsed(), "owner update");
            if updated.rows_affected() != self.assignments.len() as u64 {
                return Err(StoreError::Conflict {
                    message: "a customer being routed was given an owner concurrently; nothing was written".to_string(),
                    field: Some("owner_id".to_string()),
                });
            }
            let sql = format!(
                "INSERT INTO events (at, kind, customer_id, from_rep_id, to_rep_id, actor, reason, rule)
                 SELECT ${}, ${}, row_source.c0, NULL, row_source.c1, ${}, row_source.c2, row_source.c3
                 FROM {} ORDER BY row_source.position",
                next,
                next + 1,
                next + 2,
                assigned.from
            );
            let insert_started = std::time::Instant::now();
            assigned
                .bind(sqlx::query(&sql))
                .bind(self.at)
                .bind(OwnershipChange::Assigned.as_str())
                .bind(self.actor)
                .execute(&mut *write.transaction)
                .await?;
            tracing::trace!(elapsed = ?insert_started.elapsed(), "events insert");
        }
        if !self.decisions.is_empty() {
            let decisions = RowSource::new(
                self.backend,
                self.decisions
                    .iter()
                    .map(|decision| {
                        vec![
                            Some(decision.customer_id.as_str()),
                            decision.owner_id.as_deref(),
                            decision.rule.as_deref(),
                            decision.strategy.as_deref(),
                            Some(decision.reason.as_str()),
                            Some(decision.trace.as_str()),
                        ]
                    })
                    .collect(),
            )
            .map_err(corrupt)?;
            let next = decisions.next_parameter();
            let sql = format!(
                "INSERT INTO decisions (at, customer_id, owner_id, rule, strategy, reason, trace, rules_version, actor)
                 SELECT ${}, row_source.c0, row_source.c1, row_source.c2, row_source.c3, row_source.c4,
                        row_source.c5, ${}, ${}
                 FROM {} ORDER BY row_source.position",
                next,
                next + 1,
                next + 2,
                decisions.from
            );
            let insert_started = std::time::Instant::now();
            decisions
                .bind(sqlx::query(&sql))
                .bind(self.at)
                .bind(self.rules_version)
                .bind(self.actor)
                .execute(&mut *write.transaction)
                .await?;
            tracing::trace!(elapsed = ?insert_started.elapsed(), "decisions insert");
        }
        self.assignments.clear();
        self.decisions.clear();
        Ok(())
    }
}

impl Store {
    /// Validates rules (syntax, and that teams and reps they name exist) and stores them as a new version.
    pub async fn set_rules(&self, source: &str, actor: &str, clock: Clock) -> StoreResult<i64> {
        let rules = RuleSet::parse(source).map_err(StoreError::Rules)?;
        let mut write = self.begin_write().await?;
        let (teams, reps) = load_teams_and_reps(&mut write.transaction).await?;
        let rep_records: Vec<_> = reps.into_iter().map(|state| state.rep).collect();
        let problems = rules.check_references(&teams, &rep_records);
        if !problems.is_empty() {
            return Err(StoreError::Rules(problems));
        }
        let version =
            crate::insert_document_version(&mut write, "rule_versions", source, actor, clock)
                .await?;
        write.commit().await?;
        Ok(version)
    }

    /// The newest rules version, if any.
    pub async fn current_rules(&self) -> StoreResult<Option<RulesVersion>> {
        let row = sqlx::query(
            "SELECT version, source, actor, created_at FROM rule_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RulesVersion {
                version: row.try_get("version")?,
                source: text(&row, "source")?,
                actor: text(&row, "actor")?,
                created_at: text(&row, "created_at")?,
            })
        })
        .transpose()
    }

    /// Every rules version, newest first.
    pub async fn rules_history(&self) -> StoreResult<Vec<RulesVersion>> {
        let rows = sqlx::query(
            "SELECT version, source, actor, created_at FROM rule_versions ORDER BY version DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RulesVersion {
                    version: row.try_get("version")?,
                    source: text(row, "source")?,
                    actor: text(row, "actor")?,
                    created_at: text(row, "created_at")?,
                })
            })
            .collect()
    }

    /// The current rules (parsed once per version and cached) and the routing generation,
    /// read together: one statement per routing transaction instead of two, and the rules'
    /// source is only fetched when its version is not cached yet.
    async fn routing_snapshot(
        &self,
        write: &mut WriteTransaction,
    ) -> StoreResult<(Option<(i64, Arc<RuleSet>)>, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT MAX(version) FROM rule_versions) AS version,
                 (SELECT value FROM routing_generation WHERE id = 1) AS generation",
        )
        .fetch_one(&mut *write.transaction)
        .await?;
        let generation: i64 = row.try_get("generation")?;
        let Some(version) = row.try_get::<Option<i64>, _>("version")? else {
            return Ok((None, generation));
        };
        let rules = self
            .rules_of_version(&mut write.transaction, version)
            .await?;
        Ok((Some((version, rules)), generation))
    }

    /// A stored rules version, parsed once per process.
    async fn rules_of_version(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        version: i64,
    ) -> StoreResult<Arc<RuleSet>> {
        if let Some(rules) = self.rules_cache.lock().expect("rules cache").get(&version) {
            return Ok(rules.clone());
        }
        let source: String = sqlx::query("SELECT source FROM rule_versions WHERE version = $1")
            .bind(version)
            .fetch_one(&mut **transaction)
            .await?
            .try_get("source")?;
        // As accepted when stored: checks added to the parser since must not strand a version
        // (or the explanations of the decisions made with it).
        let rules = Arc::new(RuleSet::parse_stored(&source).map_err(|errors| {
            StoreError::Corrupt(format!(
                "stored rules version {version} no longer parses: {errors:?}"
            ))
        })?);
        self.rules_cache
            .lock()
            .expect("rules cache")
            .insert(version, rules.clone());
        Ok(rules)
    }

    /// The routing engine for this transaction: the cached one when the snapshot it was
    /// built from is still the database's (same generation, same rules), else a fresh one.
    /// The cache is taken, not borrowed: an engine mutated by a transaction that then fails
    /// must never be reused, so only [`Store::keep_engine`] after a commit puts it back.
    async fn engine_for(
        &self,
        write: &mut WriteTransaction,
        generation: i64,
        rules_version: Option<i64>,
        rules: &RuleSet,
        clock: Clock,
    ) -> StoreResult<RoutingEngine> {
        let cached = self.engine_cache.lock().expect("engine cache").take();
        if let Some(cached) = cached {
            if cached.generation == generation && cached.rules_version == rules_version {
                let mut engine = cached.engine;
                engine.set_clock(clock);
                return Ok(engine);
            }
        }
        self.build_engine(write, rules, clock).await
    }

    /// Records the generation this transaction leaves behind, to cache the engine after commit.
    async fn engine_to_keep(
        &self,
        write: &mut WriteTransaction,
        rules_version: Option<i64>,
        engine: RoutingEngine,
    ) -> StoreResult<CachedEngine> {
        Ok(CachedEngine {
            generation: routing_generation(write).await?,
            rules_version,
            engine,
        })
    }

    fn keep_engine(&self, cached: CachedEngine) {
        *self.engine_cache.lock().expect("engine cache") = Some(cached);
    }

    async fn build_engine(
        &self,
        write: &mut WriteTransaction,
        rules: &RuleSet,
        clock: Clock,
    ) -> StoreResult<RoutingEngine> {
        let (teams, reps) = load_teams_and_reps(&mut write.transaction).await?;
        let states: BTreeMap<String, StrategyState> =
            sqlx::query("SELECT rule_name, state FROM strategy_state")
                .fetch_all(&mut *write.transaction)
                .await?
                .iter()
                .map(|row| {
                    let state = serde_json::from_str(&text(row, "state")?)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    Ok((text(row, "rule_name")?, state))
                })
                .collect::<StoreResult<_>>()?;
        Ok(RoutingEngine::new(
            rules.clone(),
            &teams,
            reps,
            &states,
            clock,
        ))
    }

    /// Saves rep loads and strategy state after routing, so the next run (or another
    /// process) continues the rotation and sees the loads.
    async fn save_engine_state(
        &self,
        write: &mut WriteTransaction,
        engine: &RoutingEngine,
        touched_reps: &[RepId],
        states_before: &BTreeMap<String, StrategyState>,
    ) -> StoreResult<()> {
        for rep_id in touched_reps {
            let Some(rep) = engine.rep(rep_id) else {
                continue;
            };
            sqlx::query(
                "UPDATE reps SET owned_count = $1, owned_workload = $2, last_assigned_sequence = $3 WHERE id = $4",
            )
            .bind(i64::from(rep.load.owned_count))
            .bind(rep.load.owned_workload)
            .bind(rep.load.last_assigned_sequence as i64)
            .bind(rep_id.as_str())
            .execute(&mut *write.transaction)
            .await?;
        }
        for (rule_name, state) in engine.strategy_states() {
            if states_before.get(&rule_name) == Some(&state) {
                continue;
            }
            let state = serde_json::to_string(&state)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
            sqlx::query(
                "INSERT INTO strategy_state (rule_name, state) VALUES ($1, $2)
                 ON CONFLICT (rule_name) DO UPDATE SET state = excluded.state",
            )
            .bind(rule_name)
            .bind(state)
            .execute(&mut *write.transaction)
            .await?;
        }
        Ok(())
    }

    /// Routes every customer in the pool, oldest first, in one transaction. With `explain`,
    /// every decision comes back in words too (`allot route --json`); the stored decisions have
    /// their traces either way.
    pub async fn route_pool(
        &self,
        clock: Clock,
        actor: &str,
        explain: bool,
        progress: Progress<'_>,
    ) -> StoreResult<RouteRun> {
        let started = std::time::Instant::now();
        let mut write = self.begin_write().await?;
        let (rules, generation) = self.routing_snapshot(&mut write).await?;
        let Some((rules_version, rules)) = rules else {
            return Err(StoreError::NoRules);
        };
        let mut engine = self
            .engine_for(&mut write, generation, Some(rules_version), &rules, clock)
            .await?;
        let states_before = engine.strategy_states();
        let pool = self
            .customers_where(&mut write.transaction, "owner_id IS NULL", &POOL_ORDER)
            .await?;
        let needs_parents = pool.iter().any(|customer| customer.parent_id.is_some());
        let mut owners: HashMap<CustomerId, RepId> = HashMap::new();
        if needs_parents {
            for row in sqlx::query("SELECT id, owner_id FROM customers WHERE owner_id IS NOT NULL")
                .fetch_all(&mut *write.transaction)
                .await?
            {
                let id = CustomerId::parse(&text(&row, "id")?)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                if let Some(owner) = optional_text(&row, "owner_id")? {
                    let owner = RepId::parse(&owner)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    owners.insert(id, owner);
                }
            }
        }
        let loaded = started.elapsed();
        let mut deciding = std::time::Duration::ZERO;
        let mut writing = std::time::Duration::ZERO;
        let at = format_timestamp(clock.now());
        let mut summary = RouteSummary {
            rules_version,
            ..Default::default()
        };
        let mut decisions = Vec::with_capacity(pool.len());
        let mut touched: Vec<RepId> = Vec::new();
        let mut batch = DecisionBatch::new(self.backend, actor, &at, Some(rules_version));
        for (done, customer) in pool.iter().enumerate() {
            let parent_owner = customer
                .parent_id
                .as_ref()
                .and_then(|parent| owners.get(parent));
            let decide_started = std::time::Instant::now();
            let decision = engine.route(customer, parent_owner);
            let (record, stored) = engine.stored(&decision, customer);
            batch.add(&record, &stored)?;
            deciding += decide_started.elapsed();
            if batch.is_full() {
                let write_started = std::time::Instant::now();
                batch.flush(&mut write).await?;
                writing += write_started.elapsed();
            }
            summary.considered += 1;
            match &decision.owner_id {
                Some(owner) => {
                    summary.routed += 1;
                    *summary
                        .routed_by_rule
                        .entry(record.rule.clone().unwrap_or_default())
                        .or_insert(0) += 1;
                    touched.push(owner.clone());
                    if needs_parents {
                        owners.insert(customer.id.clone(), owner.clone());
                    }
                }
                None => {
                    summary.left_in_pool += 1;
                    *summary
                        .pool_reasons
                        .entry(record.reason.clone())
                        .or_insert(0) += 1;
                }
            }
            if explain {
                // Written in words from the stored form: the same words `render` gives, as a
                // core test checks, without working the decision out twice.
                let mut explained = record;
                explained.trace = render_stored_trace(engine.rules(), &customer.id, &stored);
                decisions.push(explained);
            }
            progress(done as u64 + 1);
        }
        touched.sort();
        batch.flush(&mut write).await?;
        touched.dedup();
        self.save_engine_state(&mut write, &engine, &touched, &states_before)
            .await?;
        let kept = self
            .engine_to_keep(&mut write, Some(rules_version), engine)
            .await?;
        write.commit().await?;
        self.keep_engine(kept);
        tracing::debug!(
            ?loaded,
            ?deciding,
            ?writing,
            total = ?started.elapsed(),
            customers = summary.considered,
            "route_pool phases"
        );
        Ok(RouteRun { summary, decisions })
    }

    /// Creates or updates one customer and routes it if it has no owner. A customer that
    /// already has an owner is not routed again; its latest decision is returned.
    pub async fn route_one(
        &self,
        customer: Customer,
        given: &GivenColumns,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<SingleRoute> {
        let at = format_timestamp(clock.now());
        let mut write = self.begin_write().await?;
        let existing = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
        ))
        .bind(customer.id.as_str())
        .fetch_optional(&mut *write.transaction)
        .await?
        .map(|row| customer_from_row(&row))
        .transpose()?;
        // Routing decides the owner, so an owner in the body is never taken; an existing
        // customer changes only in the fields the body gave, and keeps its measured value.
        let mut customer = match &existing {
            Some(existing) => existing
                .updated_with(&customer, &given.clone().without("owner_id"))
                .map_err(StoreError::InvalidRecord)?,
            None => customer,
        };
        // As for PUT /customers/{id}: a graded customer's tier follows its value.
        if let Some(existing) = existing
            .as_ref()
            .filter(|existing| existing.tier != customer.tier)
        {
            let graded = sqlx::query("SELECT 1 FROM customer_values WHERE customer_id = $1")
                .bind(customer.id.as_str())
                .fetch_optional(&mut *write.transaction)
                .await?;
            if graded.is_some() {
                return Err(StoreError::Conflict {
                    message: crate::customers::graded_tier_refused(&customer, existing),
                    field: Some("tier".to_string()),
                });
            }
        }
        customer.owner_id = existing
            .as_ref()
            .and_then(|existing| existing.owner_id.clone());
        for (field, rep) in [("first_touch_rep_id", &customer.first_touch_rep_id)] {
            if let Some(rep) = rep {
                let found = sqlx::query("SELECT id FROM reps WHERE id = $1")
                    .bind(rep.as_str())
                    .fetch_optional(&mut *write.transaction)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::Conflict {
                        message: format!("rep '{rep}' does not exist"),
                        field: Some(field.to_string()),
                    });
                }
            }
        }
        let parent_changed = existing
            .as_ref()
            .is_some_and(|existing| existing.parent_id != customer.parent_id);
        let parent_owner = match &customer.parent_id {
            Some(parent) => {
                // A new customer cannot close a cycle: nothing stored names it as a parent
                // (and a parent naming itself does not exist yet).
                if parent_changed
                    && crate::customers::parent_link_closes_cycle(
                        &mut write.transaction,
                        &customer.id,
                        parent,
                    )
                    .await?
                {
                    return Err(StoreError::Conflict {
                        message: format!(
                            "making '{parent}' the parent of '{}' forms a cycle",
                            customer.id
                        ),
                        field: Some("parent_id".to_string()),
                    });
                }
                let row = sqlx::query("SELECT owner_id FROM customers WHERE id = $1")
                    .bind(parent.as_str())
                    .fetch_optional(&mut *write.transaction)
                    .await?
                    .ok_or_else(|| StoreError::Conflict {
                        message: format!("customer '{parent}' does not exist"),
                        field: Some("parent_id".to_string()),
                    })?;
                optional_text(&row, "owner_id")?
                    .map(|owner| RepId::parse(&owner))
                    .transpose()
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?
            }
            None => None,
        };
        // Workload changes must reach the owner's load even when no routing happens.
        let workload_changed = existing.as_ref().is_some_and(|existing| {
            existing.workload != customer.workload && existing.owner_id.is_some()
        });
        upsert_customer(&mut write.transaction, &customer, &at).await?;
        if workload_changed {
            let owner: std::collections::HashSet<&str> =
                customer.owner_id.iter().map(RepId::as_str).collect();
            crate::customers::recount_rep_loads(&mut write.transaction, self.backend, &owner)
                .await?;
        }
        if let Some(owner) = customer.owner_id.clone() {
            let previous = self.latest_decision_in(&mut write, &customer.id).await?;
            write.commit().await?;
            // The last routing decision explains the owner only if it chose the current one;
            // after a manual assignment or an import it would name someone else.
            let decision = match previous {
                Some(previous) if previous.decision.owner_id.as_deref() == Some(owner.as_str()) => {
                    previous.decision
                }
                _ => DecisionRecord {
                    customer_id: customer.id.to_string(),
                    owner_id: Some(owner.to_string()),
                    rule: None,
                    strategy: None,
                    reason: format!(
                        "already owned by {owner}, who was set outside routing (import or manual assignment); routing never moves an owned customer"
                    ),
                    trace: Default::default(),
                },
            };
            return Ok(SingleRoute {
                routed_now: false,
                decision,
            });
        }
        let (rules, generation) = self.routing_snapshot(&mut write).await?;
        let (rules_version, rules) = match rules {
            Some((version, rules)) => (Some(version), rules),
            None => (None, Arc::new(RuleSet::default())),
        };
        let mut engine = self
            .engine_for(&mut write, generation, rules_version, &rules, clock)
            .await?;
        let states_before = engine.strategy_states();
        let decision = engine.route(&customer, parent_owner.as_ref());
        let (mut record, stored) = engine.stored(&decision, &customer);
        let mut batch = DecisionBatch::new(self.backend, actor, &at, rules_version);
        batch.add(&record, &stored)?;
        record.trace = render_stored_trace(engine.rules(), &customer.id, &stored);
        batch.flush(&mut write).await?;
        let touched: Vec<RepId> = decision.owner_id.iter().cloned().collect();
        self.save_engine_state(&mut write, &engine, &touched, &states_before)
            .await?;
        let kept = self
            .engine_to_keep(&mut write, rules_version, engine)
            .await?;
        write.commit().await?;
        self.keep_engine(kept);
        Ok(SingleRoute {
            routed_now: decision.owner_id.is_some(),
            decision: record,
        })
    }

    async fn latest_decision_in(
        &self,
        write: &mut WriteTransaction,
        customer_id: &CustomerId,
    ) -> StoreResult<Option<StoredDecision>> {
        let row = sqlx::query(
            "SELECT id, at, customer_id, owner_id, rule, strategy, reason, trace, rules_version, actor
             FROM decisions WHERE customer_id = $1 AND owner_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(customer_id.as_str())
        .fetch_optional(&mut *write.transaction)
        .await?;
        match row {
            Some(row) => Ok(Some(
                self.decision_from_row(&mut write.transaction, &row).await?,
            )),
            None => Ok(None),
        }
    }

    /// Every stored decision for a customer, newest first.
    pub async fn decisions_for(
        &self,
        customer_id: &CustomerId,
    ) -> StoreResult<Vec<StoredDecision>> {
        let mut read = self.begin_read().await?;
        let rows = sqlx::query(
            "SELECT id, at, customer_id, owner_id, rule, strategy, reason, trace, rules_version, actor
             FROM decisions WHERE customer_id = $1 ORDER BY id DESC",
        )
        .bind(customer_id.as_str())
        .fetch_all(&mut *read)
        .await?;
        let mut decisions = Vec::with_capacity(rows.len());
        for row in &rows {
            decisions.push(self.decision_from_row(&mut read, row).await?);
        }
        Ok(decisions)
    }

    /// A stored decision in words. Its trace is in stored form (written in words here, against
    /// the rules version it was made with) or, for decisions stored before that form, in words.
    async fn decision_from_row(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        row: &sqlx::any::AnyRow,
    ) -> StoreResult<StoredDecision> {
        let corrupt = |error: serde_json::Error| StoreError::Corrupt(error.to_string());
        let customer_id = text(row, "customer_id")?;
        let rules_version: Option<i64> = row.try_get("rules_version")?;
        let trace_text = text(row, "trace")?;
        // Decisions stored before the stored form hold the whole trace in words, without `format`.
        let trace = match serde_json::from_str::<StoredTrace>(&trace_text) {
            Ok(stored) if stored.format == StoredTrace::FORMAT => {
                let rules = match rules_version {
                    Some(version) => self.rules_of_version(transaction, version).await?,
                    None => Arc::new(RuleSet::default()),
                };
                let id = CustomerId::parse(&customer_id)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                render_stored_trace(&rules, &id, &stored)
            }
            Ok(stored) => {
                return Err(StoreError::Corrupt(format!(
                    "a stored trace of unknown format {}",
                    stored.format
                )))
            }
            Err(_) => serde_json::from_str(&trace_text).map_err(corrupt)?,
        };
        Ok(StoredDecision {
            id: row.try_get("id")?,
            at: text(row, "at")?,
            actor: text(row, "actor")?,
            rules_version,
            decision: DecisionRecord {
                customer_id,
                owner_id: optional_text(row, "owner_id")?,
                rule: optional_text(row, "rule")?,
                strategy: optional_text(row, "strategy")?,
                reason: text(row, "reason")?,
                trace,
            },
        })
    }

    /// Workload and fairness as of the clock (F1).
    pub async fn workload_report(&self, clock: Clock) -> StoreResult<WorkloadReport> {
        let teams = self.list_teams().await?;
        let reps: Vec<RepState> = self.list_reps().await?;
        Ok(workload_report(&teams, &reps, clock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventFilter;
    use allot_core::input::{CustomerFields, RepFields, TeamFields};

    /// The routing lock keeps routers from meeting, so no test through the public API reaches
    /// the database's own guard. Here a batch is handed a customer that already has an owner,
    /// as a router with a stale view of the pool would be: the conditional update refuses, and
    /// the transaction writes nothing, no second owner and no event.
    async fn the_database_refuses_a_second_owner(backend: Backend) {
        let database = crate::testing::TestDatabase::create(backend).await;
        let store = Store::connect(&database.url).await.unwrap();
        let clock = Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
        let team =
            serde_json::from_value::<TeamFields>(serde_json::json!({"id": "t", "name": "T"}))
                .unwrap()
                .into_team()
                .unwrap();
        store
            .put_team(&team, &GivenColumns::all(TeamFields::COLUMNS))
            .await
            .unwrap();
        for id in ["r1", "r2"] {
            let rep = serde_json::from_value::<RepFields>(
                serde_json::json!({"id": id, "name": id, "team_id": "t"}),
            )
            .unwrap()
            .into_rep()
            .unwrap();
            store
                .put_rep(&rep, &GivenColumns::all(RepFields::COLUMNS))
                .await
                .unwrap();
        }
        // c1 owned by r1; p1…p9 in the pool.
        let customers =
            std::iter::once(serde_json::json!({"id": "c1", "name": "客户", "owner_id": "r1"}))
                .chain((1..=9).map(
                    |number| serde_json::json!({"id": format!("p{number}"), "name": "新客户"}),
                ));
        for fields in customers {
            let customer = serde_json::from_value::<CustomerFields>(fields)
                .unwrap()
                .into_customer()
                .unwrap();
            store
                .put_customer(
                    &customer,
                    &GivenColumns::all(CustomerFields::COLUMNS),
                    "test",
                    clock,
                )
                .await
                .unwrap();
        }
        let all_events = || async {
            store
                .list_events(&EventFilter {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
        };
        let events_before = all_events().await.len();
        let assignment = |customer: &str| PendingAssignment {
            customer_id: customer.to_string(),
            owner_id: "r2".to_string(),
            rule: None,
            reason: "a stale view of the pool".to_string(),
        };
        let at = format_timestamp(clock.now());
        // One customer alone (bound values) and one among many (one JSON parameter).
        for customers in [
            vec!["c1"],
            vec!["p1", "p2", "p3", "p4", "c1", "p5", "p6", "p7", "p8"],
        ] {
            let mut write = store.begin_write().await.unwrap();
            let mut batch = DecisionBatch::new(backend, "test", &at, None);
            batch.assignments = customers.iter().map(|id| assignment(id)).collect();
            let refused = batch.flush(&mut write).await.unwrap_err();
            assert!(
                matches!(&refused, StoreError::Conflict { field: Some(field), .. } if field == "owner_id"),
                "{refused:?}"
            );
            drop(write);
        }
        let pool_left = store
            .list_customers(&crate::customers::CustomerFilter {
                in_pool: Some(true),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(pool_left.total, 9, "nothing was assigned");

        let stored = store
            .get_customer(&CustomerId::parse("c1").unwrap())
            .await
            .unwrap();
        assert_eq!(stored.owner_id.as_ref().map(RepId::as_str), Some("r1"));
        assert_eq!(all_events().await.len(), events_before);

        // Many pool customers at once: every one gets its owner and its event, in order.
        let mut write = store.begin_write().await.unwrap();
        let mut batch = DecisionBatch::new(backend, "test", &at, None);
        let pool: Vec<String> = (1..=9).map(|number| format!("p{number}")).collect();
        batch.assignments = pool.iter().map(|id| assignment(id)).collect();
        batch.flush(&mut write).await.unwrap();
        write.commit().await.unwrap();
        let events = all_events().await;
        let assigned: Vec<&str> = events[events_before..]
            .iter()
            .map(|event| event.customer_id.as_str())
            .collect();
        assert_eq!(assigned, pool);
        for id in &pool {
            let customer = store
                .get_customer(&CustomerId::parse(id).unwrap())
                .await
                .unwrap();
            assert_eq!(customer.owner_id.as_ref().map(RepId::as_str), Some("r2"));
        }
    }

    crate::test_on_both_backends! {
        the_database_refuses_a_second_owner => super::the_database_refuses_a_second_owner;
    }
}
