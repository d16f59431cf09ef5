//! Routing in the database: rules versions, the routing snapshot and its cached engine, and the
//! two ways customers are routed (the whole pool, `pool`; one customer at a time, `queue`).

pub(crate) mod decisions;
mod pool;
pub(crate) mod queue;
mod simulate;

use std::collections::BTreeMap;
use std::sync::Arc;

use allot_core::fairness::{workload_report, WorkloadReport};
use allot_core::routing::{DecisionRecord, RoutingEngine};
use allot_core::rules::RuleSet;
use allot_core::strategy::{RepState, StrategyState};
use allot_core::{Clock, RepId};
use serde::Serialize;
use sqlx::types::Json;

use crate::database::bulk::{
    insert_rows, update_rows, InsertRows, Kind, Transfer, UpdateRows, Value,
};
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::organisation::load_teams_and_reps;
use crate::{Store, StoredTime, WriteTransaction};

pub use decisions::StoredDecision;

/// An engine kept between routing transactions, with the snapshot it reflects.
pub(crate) struct CachedEngine {
    generation: i64,
    rules_version: Option<i64>,
    engine: RoutingEngine,
}

/// A stored rules version.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesVersion {
    pub version: i64,
    /// The TOML text as stored.
    pub source: String,
    pub actor: String,
    /// RFC 3339 in UTC.
    pub created_at: String,
}

#[derive(sqlx_macros::FromRow)]
struct VersionRow {
    version: i64,
    source: String,
    actor: String,
    created_at: StoredTime,
}

impl From<VersionRow> for RulesVersion {
    fn from(row: VersionRow) -> RulesVersion {
        RulesVersion {
            version: row.version,
            source: row.source,
            actor: row.actor,
            created_at: row.created_at.text(),
        }
    }
}

/// Every rule's saved strategy state (round robin's last rep, weighted turns), by rule name.
pub(crate) async fn strategy_states(
    source: &mut impl Connected,
) -> StoreResult<BTreeMap<String, StrategyState>> {
    let rows: Vec<(String, Json<StrategyState>)> = on_backend!(&mut *source, |connection, Db| {
        sql!(Db; "SELECT rule_name, state FROM strategy_state")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(rule, Json(state))| (rule, state))
        .collect())
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
    /// Set when the customer was new and duplicates a stored one (撞单): it was not created or
    /// routed, `decision` is the existing customer's, and this is the conflict that keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<crate::lifecycle::conflicts::OpenedConflict>,
}

impl Store {
    /// Validates rules (syntax, and that teams and reps they name exist) and stores them as a new version.
    pub async fn set_rules(&self, source: &str, actor: &str, clock: Clock) -> StoreResult<i64> {
        let mut write = self.begin_write().await?;
        let problems = self.rule_problems(&mut write, source).await?;
        if !problems.is_empty() {
            return Err(StoreError::Rules(problems));
        }
        let version =
            crate::insert_document_version(&mut write, "rule_versions", source, actor, clock)
                .await?;
        write.commit().await?;
        Ok(version)
    }

    /// What is wrong with `source` as the next rules version (syntax, teams and reps it names,
    /// the tiers and stages it compares with), each at its line and column where known;
    /// empty when it could be stored. Nothing is written.
    pub async fn check_rules(&self, source: &str) -> StoreResult<Vec<allot_core::RuleError>> {
        let mut read = self.database.begin_read().await?;
        self.rule_problems(&mut read, source).await
    }

    async fn rule_problems(
        &self,
        source: &mut impl crate::database::Connected,
        text: &str,
    ) -> StoreResult<Vec<allot_core::RuleError>> {
        let rules = match RuleSet::parse(text) {
            Ok(rules) => rules,
            Err(problems) => return Ok(problems),
        };
        let (teams, reps) = load_teams_and_reps(&mut *source).await?;
        let rep_records: Vec<_> = reps.into_iter().map(|state| state.rep).collect();
        let mut problems = rules.check_references(&teams, &rep_records);
        let vocabulary = self.policy_in(&mut *source).await?.1.vocabulary();
        problems.extend(rules.check_vocabulary(&vocabulary));
        Ok(problems)
    }

    /// The newest rules version, if any.
    pub async fn current_rules(&self) -> StoreResult<Option<RulesVersion>> {
        Ok(self.rules_versions(Some(1)).await?.pop())
    }

    /// Every rules version, newest first.
    pub async fn rules_history(&self) -> StoreResult<Vec<RulesVersion>> {
        self.rules_versions(None).await
    }

    async fn rules_versions(&self, limit: Option<i64>) -> StoreResult<Vec<RulesVersion>> {
        let mut connection = self.database.acquire().await?;
        let rows: Vec<VersionRow> = on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db;
                "SELECT version, source, actor, created_at FROM rule_versions ORDER BY version DESC");
            if let Some(limit) = limit {
                query.push(" LIMIT ").push_bind(limit);
            }
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        Ok(rows.into_iter().map(RulesVersion::from).collect())
    }

    /// The current rules (parsed once per version and cached) and the routing generation,
    /// read together: one statement per routing transaction, and the rules' source only
    /// when its version is not cached yet.
    pub(crate) async fn routing_snapshot(
        &self,
        write: &mut WriteTransaction,
    ) -> StoreResult<(Option<(i64, Arc<RuleSet>)>, i64)> {
        let (version, generation): (Option<i64>, i64) =
            on_backend!(&mut *write, |connection, Db| {
                sql!(Db; "SELECT (SELECT MAX(version) FROM rule_versions),
                 (SELECT value FROM routing_generation WHERE id = 1)")
                .build_query_as()
                .fetch_one(&mut *connection)
                .await?
            });
        let Some(version) = version else {
            return Ok((None, generation));
        };
        let rules = self.rules_of_version(write, version).await?;
        Ok((Some((version, rules)), generation))
    }

    /// A stored rules version, parsed once per process.
    pub(crate) async fn rules_of_version(
        &self,
        source: &mut impl Connected,
        version: i64,
    ) -> StoreResult<Arc<RuleSet>> {
        if let Some(rules) = self.rules_cache.lock().expect("rules cache").get(&version) {
            return Ok(rules.clone());
        }
        let text: String = on_backend!(source, |connection, Db| {
            sql!(Db; "SELECT source FROM rule_versions WHERE version = ", bind(version))
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        });
        // As accepted when stored: checks added to the parser since must not strand a version
        // (or the explanations of the decisions made with it).
        let rules = Arc::new(RuleSet::parse_stored(&text).map_err(|errors| {
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
    pub(crate) async fn engine_for(
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
        let (teams, reps) = load_teams_and_reps(write).await?;
        let states = strategy_states(write).await?;
        Ok(RoutingEngine::new(
            rules.clone(),
            &teams,
            reps,
            &states,
            clock,
        ))
    }

    /// Saves rep loads and strategy state after routing, so the next run (or another
    /// process) continues the rotation and sees the loads; then keeps the engine with the
    /// generation this transaction leaves behind, to be cached after commit.
    pub(crate) async fn save_engine_state(
        &self,
        write: &mut WriteTransaction,
        engine: RoutingEngine,
        rules_version: Option<i64>,
        touched_reps: &[RepId],
        states_before: &BTreeMap<String, StrategyState>,
    ) -> StoreResult<CachedEngine> {
        let loads: Vec<(&str, &RepState)> = touched_reps
            .iter()
            .filter_map(|id| engine.rep(id).map(|rep| (id.as_str(), rep)))
            .collect();
        let rows: Vec<Vec<Value<'_>>> = loads
            .iter()
            .map(|(id, rep)| {
                vec![
                    Value::Text(id),
                    Value::Integer(i64::from(rep.load.owned_count)),
                    Value::Real(rep.load.owned_workload),
                    Value::Integer(rep.load.last_assigned_sequence as i64),
                ]
            })
            .collect();
        update_rows(
            write.connection(),
            &UpdateRows {
                table: "reps",
                key: &[("id", Kind::Text)],
                still: None,
                set: &[
                    ("owned_count", Kind::Integer),
                    ("owned_workload", Kind::Real),
                    ("last_assigned_sequence", Kind::Integer),
                ],
                rows: &rows,
                only_if: None,
                caller_fails_unless_every_row_changes: false,
            },
        )
        .await?;
        let changed: Vec<(String, String)> = engine
            .strategy_states()
            .into_iter()
            .filter(|(rule, state)| states_before.get(rule) != Some(state))
            .map(|(rule, state)| {
                serde_json::to_string(&state)
                    .map(|state| (rule, state))
                    .map_err(|error| StoreError::Corrupt(error.to_string()))
            })
            .collect::<StoreResult<_>>()?;
        let rows: Vec<Vec<Value<'_>>> = changed
            .iter()
            .map(|(rule, state)| vec![Value::Text(rule), Value::Json(state)])
            .collect();
        insert_rows(
            write.connection(),
            &InsertRows {
                table: "strategy_state",
                columns: &[("rule_name", Kind::Text), ("state", Kind::Json)],
                rows: &rows,
                on_conflict: Some("(rule_name) DO UPDATE SET state = excluded.state"),
                never_clash: false,
            },
            Transfer::Arrays,
        )
        .await?;
        let generation: i64 = on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "SELECT value FROM routing_generation WHERE id = 1")
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        });
        Ok(CachedEngine {
            generation,
            rules_version,
            engine,
        })
    }

    pub(crate) fn keep_engine(&self, cached: CachedEngine) {
        *self.engine_cache.lock().expect("engine cache") = Some(cached);
    }

    /// Workload and fairness as of the clock (F1), over `reps` when given (a manager's
    /// subtree) and the teams they belong to; over everyone otherwise.
    pub async fn workload_report(
        &self,
        clock: Clock,
        reps: Option<&std::collections::BTreeSet<RepId>>,
    ) -> StoreResult<WorkloadReport> {
        let mut read = self.database.begin_read().await?;
        let (mut teams, mut states) = load_teams_and_reps(&mut read).await?;
        if let Some(reps) = reps {
            states.retain(|state| reps.contains(&state.rep.id));
            let team_ids: std::collections::BTreeSet<&allot_core::TeamId> = states
                .iter()
                .filter_map(|state| state.rep.team_id.as_ref())
                .collect();
            teams.retain(|team| team_ids.contains(&team.id));
        }
        Ok(workload_report(&teams, &states, clock))
    }
}
