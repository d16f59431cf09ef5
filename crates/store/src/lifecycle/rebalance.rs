//! Rebalancing (A6) over the stored organisation: a plan from one read snapshot, and applying it as transfers of kind `rebalance` (through approval) or, by an admin, as direct owner changes with their events, in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use allot_core::access::Principal;
use allot_core::pool::TransferReason;
use allot_core::rebalance::{RebalanceBuilder, RebalancePlan, RebalanceStart};
use allot_core::rules::RuleSet;
use allot_core::{Clock, Customer, CustomerId, RepId, TeamId};
use serde::Serialize;

use super::transfers::{ApprovalOrganisation, TransferRequest, TransferTarget};
use super::{change_owners, ChangeReason, OwnerChange};
use crate::customers::CustomerRead;
use crate::database::{on_backend, sql};
use crate::error::{StoreError, StoreResult};
use crate::organisation::load_teams_and_reps;
use crate::Store;

/// What to rebalance.
#[derive(Debug, Clone, Default)]
pub struct RebalanceRequest {
    /// A team's subtree; `None`: everyone the caller sees.
    pub team: Option<TeamId>,
    pub max_moves: Option<usize>,
    /// Only these customers may move (the rest stay and count): `tick`'s overload proposals.
    pub movable: Option<HashSet<CustomerId>>,
}

/// How an applied plan changes owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceApproval {
    /// Transfer requests of kind `rebalance`, one per (from, to) pair, through approval.
    Transfers,
    /// The owners change at once (admins only), each with its event.
    Direct,
}

/// An applied plan.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RebalanceApplied {
    /// False for a dry run: the plan only.
    pub applied: bool,
    pub plan: RebalancePlan,
    /// Transfers opened (with `approval: transfers`).
    pub transfer_ids: Vec<i64>,
    /// Customers whose owner changed at once (with `approval: direct`).
    pub moved: usize,
}

/// Transfers hold at most this many customers each (as a request through the API may).
const CUSTOMERS_PER_TRANSFER: usize = 10_000;

impl Store {
    /// A rebalancing plan for `request` as `principal` may make it: admins for anyone, managers
    /// for their subtree; nothing is written. See [`allot_core::rebalance`].
    pub async fn plan_rebalance(
        &self,
        principal: &Principal,
        request: &RebalanceRequest,
        clock: Clock,
    ) -> StoreResult<RebalancePlan> {
        if matches!(principal, Principal::Rep { .. }) {
            return Err(StoreError::Forbidden(
                "rebalancing is for admins and managers".to_string(),
            ));
        }
        let mut read = self.database.begin_read().await?;
        let newest: Option<i64> = on_backend!(&mut read, |connection, Db| {
            sql!(Db; "SELECT MAX(version) FROM rule_versions")
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        });
        let rules = match newest {
            Some(version) => (*self.rules_of_version(&mut read, version).await?).clone(),
            None => RuleSet::default(),
        };
        let (teams, reps) = load_teams_and_reps(&mut read).await?;
        if let Some(team) = &request.team {
            if !teams.iter().any(|known| &known.id == team) {
                return Err(StoreError::Invalid(allot_core::FieldError::new(
                    "team",
                    format!("team '{team}' does not exist"),
                )));
            }
        }
        let states = crate::routing::strategy_states(&mut read).await?;
        let policy = self.policy_in(&mut read).await?.1;
        let open_transfers = customers_in_open_transfers(&mut read).await?;
        let reps_in_view: Option<BTreeSet<RepId>> = principal.visible_reps();
        let mut builder = RebalanceBuilder::new(RebalanceStart {
            rules,
            teams: &teams,
            reps,
            strategy_states: &states,
            clock,
            policy: &policy.rebalance,
            team: request.team.clone(),
            reps_in_view: reps_in_view.as_ref(),
            max_moves: request.max_moves,
        });
        // When only a few may move (the overload job's plan), the others are read briefly:
        // they only count towards their owner's load and home province. Those that may move
        // are read in full, which the rules that offer them other reps need.
        let (what, movable_in_full) = match &request.movable {
            Some(movable) => {
                let ids: Vec<&str> = movable.iter().map(CustomerId::as_str).collect();
                (
                    CustomerRead::Brief,
                    crate::customers::load_customers(&mut read, &ids).await?,
                )
            }
            None => (CustomerRead::Full, HashMap::new()),
        };
        crate::customers::for_each_customer_in(&mut read, what, |chunk: &[Customer]| {
            for customer in chunk {
                if customer.owner_id.is_none() {
                    continue;
                }
                let movable = !open_transfers.contains(customer.id.as_str())
                    && request
                        .movable
                        .as_ref()
                        .is_none_or(|movable| movable.contains(&customer.id));
                match movable_in_full.get(customer.id.as_str()) {
                    Some(full) if movable && what == CustomerRead::Brief => builder.add(full, true),
                    _ => builder.add(customer, movable && what == CustomerRead::Full),
                }
            }
            StoreResult::Ok(())
        })
        .await?;
        Ok(builder.plan())
    }

    /// Plans as [`Store::plan_rebalance`] and applies the plan in one transaction: transfer
    /// requests of kind `rebalance` (approved as the policy asks), or, for an admin with
    /// `Direct`, the owner changes themselves. A customer that changed owner since the plan was
    /// made fails the whole step with a conflict, nothing written.
    pub async fn apply_rebalance(
        &self,
        principal: &Principal,
        request: &RebalanceRequest,
        approval: RebalanceApproval,
        clock: Clock,
    ) -> StoreResult<RebalanceApplied> {
        if approval == RebalanceApproval::Direct && !principal.is_admin() {
            return Err(StoreError::Forbidden(
                "only an admin may move customers without approval".to_string(),
            ));
        }
        let plan = self.plan_rebalance(principal, request, clock).await?;
        let mut write = self.begin_write().await?;
        let applied = self
            .apply_plan_in(&mut write, principal, plan, approval, clock)
            .await?;
        write.commit().await?;
        Ok(applied)
    }

    /// Writes `plan` in the caller's transaction (see [`Store::apply_rebalance`]).
    pub(crate) async fn apply_plan_in(
        &self,
        write: &mut crate::WriteTransaction,
        principal: &Principal,
        plan: RebalancePlan,
        approval: RebalanceApproval,
        clock: Clock,
    ) -> StoreResult<RebalanceApplied> {
        let parse_customer = |raw: &str| {
            CustomerId::parse(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
        };
        let parse_rep =
            |raw: &str| RepId::parse(raw).map_err(|error| StoreError::Corrupt(error.to_string()));
        let mut transfer_ids = Vec::new();
        let mut moved = 0;
        match approval {
            RebalanceApproval::Direct => {
                let ids: Vec<(CustomerId, RepId, RepId, String)> = plan
                    .moves
                    .iter()
                    .map(|planned| {
                        Ok((
                            parse_customer(&planned.customer_id)?,
                            parse_rep(&planned.from_rep_id)?,
                            parse_rep(&planned.to_rep_id)?,
                            format!("rebalance: {}", planned.reason.as_str()),
                        ))
                    })
                    .collect::<StoreResult<_>>()?;
                let changes: Vec<OwnerChange<'_>> = ids
                    .iter()
                    .map(|(customer_id, from, to, reason)| OwnerChange {
                        customer_id,
                        from: Some(from),
                        to: Some(to),
                        reason: Some(reason.clone()),
                    })
                    .collect();
                let actor = principal.actor();
                if !changes.is_empty() {
                    change_owners(
                        write,
                        &changes,
                        ChangeReason {
                            at: clock.now(),
                            actor: &actor,
                            reason: "rebalance",
                            reason_kind: TransferReason::Rebalance.as_str(),
                        },
                    )
                    .await?;
                }
                moved = changes.len();
            }
            RebalanceApproval::Transfers => {
                let view = self.view_of(principal, clock).await?;
                let policy = self.policy_in(&mut *write).await?.1;
                let organisation = ApprovalOrganisation::load(&mut *write).await?;
                let mut groups: BTreeMap<(&str, &str), Vec<CustomerId>> = BTreeMap::new();
                let mut reasons: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
                for planned in &plan.moves {
                    let key = (planned.from_rep_id.as_str(), planned.to_rep_id.as_str());
                    groups
                        .entry(key)
                        .or_default()
                        .push(parse_customer(&planned.customer_id)?);
                    reasons
                        .entry(key)
                        .or_default()
                        .insert(planned.reason.as_str());
                }
                for ((from, to), customers) in &groups {
                    let why: Vec<&str> = reasons[&(*from, *to)].iter().copied().collect();
                    for chunk in customers.chunks(CUSTOMERS_PER_TRANSFER) {
                        let text = format!(
                            "rebalance plan: {} customer(s) from {from} to {to} ({})",
                            chunk.len(),
                            why.join(", ")
                        );
                        let request = TransferRequest {
                            customer_ids: chunk.to_vec(),
                            from: parse_rep(from)?,
                            to: TransferTarget::Rep(parse_rep(to)?),
                            reason_kind: TransferReason::Rebalance,
                            text: text.clone(),
                        };
                        let id = self
                            .request_transfer_in(
                                write,
                                principal,
                                &view,
                                &policy,
                                &organisation,
                                &request,
                                &text,
                                clock,
                            )
                            .await?;
                        transfer_ids.push(id);
                    }
                }
            }
        }
        Ok(RebalanceApplied {
            applied: true,
            plan,
            transfer_ids,
            moved,
        })
    }
}

/// Customers some open transfer holds: a plan leaves them where they are.
async fn customers_in_open_transfers(
    source: &mut impl crate::database::Connected,
) -> StoreResult<HashSet<String>> {
    let ids: Vec<String> = on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT customer_id FROM transfer_customers WHERE is_open = ", bind(true))
            .build_query_scalar()
            .fetch_all(&mut *connection)
            .await?
    });
    Ok(ids.into_iter().collect())
}

/// The daily job of `tick` that relieves overloaded reps (A7).
pub const OVERLOAD_JOB: &str = "overload";

/// What the overload job did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverloadSummary {
    /// Reps whose workload passed `overload_threshold` × their team's mean.
    pub overloaded_reps: Vec<String>,
    /// Of them, those left alone this time: relief the job proposed earlier is still open
    /// (requested or approved, not yet accepted, declined, rejected or cancelled), and the job
    /// does not pile more requests on the same rep meanwhile.
    pub waiting_reps: Vec<String>,
    /// `propose` (transfer requests to the managers) or `move`.
    pub action: String,
    pub moves: usize,
    pub transfer_ids: Vec<i64>,
}

/// What the overload job planned from one snapshot (see [`Store::overload_plan`]).
pub(crate) struct OverloadPlan {
    /// Every rep past the threshold, by id.
    overloaded: Vec<RepId>,
    /// Of them, those whose relief proposed earlier is still open.
    waiting: Vec<RepId>,
    /// `None` when every overloaded rep waits.
    plan: Option<RebalancePlan>,
}

/// A customer of an overloaded rep, as the job ranks them: lowest tier, then newest, first.
#[derive(sqlx_macros::FromRow)]
struct BookRow {
    id: String,
    tier: Option<String>,
    created_at: Option<crate::StoredTime>,
}

impl Store {
    /// Plans the overload job's moves from a snapshot: the reps past the threshold, and a
    /// rebalance in which only the newest and lowest-tier customers of those without relief
    /// waiting may move. `None` when no rep is overloaded.
    pub(crate) async fn overload_plan(&self, clock: Clock) -> StoreResult<Option<OverloadPlan>> {
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let (_, reps) = load_teams_and_reps(&mut read).await?;
        let today = clock.today();
        let available: Vec<&allot_core::strategy::RepState> = reps
            .iter()
            .filter(|rep| rep.rep.active && !rep.rep.is_absent_on(today))
            .collect();
        let mut totals: BTreeMap<Option<&TeamId>, (f64, usize)> = BTreeMap::new();
        for rep in &available {
            let entry = totals.entry(rep.rep.team_id.as_ref()).or_insert((0.0, 0));
            entry.0 += rep.load.owned_workload;
            entry.1 += 1;
        }
        let threshold = policy.rebalance.overload_threshold;
        let overloaded: Vec<RepId> = available
            .iter()
            .filter(|rep| {
                let (total, count) = totals[&rep.rep.team_id.as_ref()];
                let mean = total / count.max(1) as f64;
                mean > 0.0 && rep.load.owned_workload > threshold * mean
            })
            .map(|rep| rep.rep.id.clone())
            .collect();
        if overloaded.is_empty() {
            return Ok(None);
        }
        let system = Principal::System {
            job: OVERLOAD_JOB.to_string(),
        };
        let proposed_by_the_job: HashSet<String> = on_backend!(&mut read, |connection, Db| {
            sql!(Db; "SELECT DISTINCT from_rep_id FROM transfers WHERE requested_by = ", bind(system.actor()),
                " AND state IN ('requested', 'approved')")
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?
        })
        .into_iter()
        .collect();
        let (waiting, relieved): (Vec<&RepId>, Vec<&RepId>) = overloaded
            .iter()
            .partition(|rep| proposed_by_the_job.contains(rep.as_str()));
        let waiting: Vec<RepId> = waiting.into_iter().cloned().collect();
        if relieved.is_empty() {
            return Ok(Some(OverloadPlan {
                overloaded,
                waiting,
                plan: None,
            }));
        }
        let tier_names = policy.tier_names();
        let rank = |tier: &Option<String>| {
            tier.as_ref()
                .and_then(|tier| tier_names.iter().position(|name| name == tier))
                .unwrap_or(tier_names.len())
        };
        let open_transfers = customers_in_open_transfers(&mut read).await?;
        let mut movable = HashSet::new();
        for rep in &relieved {
            let mut book: Vec<BookRow> = on_backend!(&mut read, |connection, Db| {
                sql!(Db; "SELECT id, tier, created_at FROM customers WHERE owner_id = ", bind(rep.as_str()))
                    .build_query_as()
                    .fetch_all(&mut *connection)
                    .await?
            });
            book.sort_by(|left, right| {
                rank(&right.tier)
                    .cmp(&rank(&left.tier))
                    .then(
                        right
                            .created_at
                            .map(|at| at.0)
                            .cmp(&left.created_at.map(|at| at.0)),
                    )
                    .then(left.id.cmp(&right.id))
            });
            for row in book
                .into_iter()
                .filter(|row| !open_transfers.contains(&row.id))
                .take(policy.rebalance.overload_candidates as usize)
            {
                if let Ok(id) = CustomerId::parse(&row.id) {
                    movable.insert(id);
                }
            }
        }
        drop(read);
        let request = RebalanceRequest {
            team: None,
            max_moves: None,
            movable: Some(movable),
        };
        let plan = self.plan_rebalance(&system, &request, clock).await?;
        Ok(Some(OverloadPlan {
            overloaded,
            waiting,
            plan: Some(plan),
        }))
    }

    /// Carries out a planned overload relief in the job's transaction, as the policy says.
    pub(crate) async fn relieve_overload_in(
        &self,
        write: &mut crate::WriteTransaction,
        planned: OverloadPlan,
        clock: Clock,
    ) -> StoreResult<OverloadSummary> {
        let policy = self.policy_in(&mut *write).await?.1;
        let action = policy.rebalance.overload_action;
        let names = |reps: &[RepId]| reps.iter().map(ToString::to_string).collect();
        let OverloadPlan {
            overloaded,
            waiting,
            plan,
        } = planned;
        let Some(plan) = plan else {
            return Ok(OverloadSummary {
                overloaded_reps: names(&overloaded),
                waiting_reps: names(&waiting),
                action: action.as_str().to_string(),
                moves: 0,
                transfer_ids: Vec::new(),
            });
        };
        let approval = match action {
            allot_core::rebalance::OverloadAction::Propose => RebalanceApproval::Transfers,
            allot_core::rebalance::OverloadAction::Move => RebalanceApproval::Direct,
        };
        let system = Principal::System {
            job: OVERLOAD_JOB.to_string(),
        };
        let applied = self
            .apply_plan_in(write, &system, plan, approval, clock)
            .await?;
        Ok(OverloadSummary {
            overloaded_reps: names(&overloaded),
            waiting_reps: names(&waiting),
            action: action.as_str().to_string(),
            moves: applied.plan.moves_total,
            transfer_ids: applied.transfer_ids,
        })
    }
}
