//! Simulating a rule change (A5): what a new rule set would do to the pool and to the book, and to
//! fairness, worked out on a copy of the organisation and its loads, nothing written.
//!
//! The definition, which the store's `simulate_rules` follows and its tests hold it to:
//! - An owned customer keeps its owner when the new rules would: the first new rule that
//!   matches it lists the owner among its candidates, at the rule's minimum level (matching
//!   rules that fall through looked past, as routing does).
//! - It also keeps its owner when the current rules would not have given it to that owner
//!   either (a claim from the pool, a transfer, an owner set by hand): a rule change is not
//!   what moves those, and listing them would bury the change's effect. They are counted as
//!   `owned_outside_current_rules`.
//! - Every other owned customer *moves*: it is released from its owner's load, as if returned
//!   to the pool.
//! - The moving customers and the pool customers in scope are then routed by the new rules in
//!   pool order (oldest first, then by id), against the loads left after the releases, with the
//!   rules' saved rotation state: exactly what setting the rules and running `allot route`
//!   would decide for the pool, and for the movers what releasing them first would.
//! - Fairness before is the organisation as it is; after, as the simulation leaves it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::clock::Clock;
use crate::customer::Customer;
use crate::fairness::{workload_report, FairnessSummary, WorkloadReport};
use crate::ids::{CustomerId, RepId, TeamId};
use crate::model::Team;
use crate::routing::{team_subtree, Outcome, RoutingEngine, RuleAcceptance};
use crate::rules::RuleSet;
use crate::strategy::{RepState, StrategyState};

/// Which customers a simulation routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SimulationScope {
    /// Customers without an owner.
    Pool,
    /// Customers with an owner.
    Owned,
    /// Both.
    All,
}

impl SimulationScope {
    pub fn parse(raw: &str) -> Option<SimulationScope> {
        match raw {
            "pool" => Some(SimulationScope::Pool),
            "owned" => Some(SimulationScope::Owned),
            "all" => Some(SimulationScope::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SimulationScope::Pool => "pool",
            SimulationScope::Owned => "owned",
            SimulationScope::All => "all",
        }
    }

    pub fn includes_pool(self) -> bool {
        self != SimulationScope::Owned
    }

    pub fn includes_owned(self) -> bool {
        self != SimulationScope::Pool
    }
}

/// An owned customer whose owner the new rules would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnerChange {
    pub customer_id: String,
    pub name: String,
    pub from_rep_id: String,
    /// `None`: back to the pool (`reason` says why).
    pub to_rep_id: Option<String>,
    /// The current rule that gives the customer to its owner.
    pub old_rule: Option<String>,
    pub new_rule: Option<String>,
    pub reason: String,
}

/// A pool customer the new rules would place.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolPlacement {
    pub customer_id: String,
    pub name: String,
    pub to_rep_id: String,
    pub new_rule: String,
}

/// Owned count and fairness of a set of reps before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FairnessChange {
    pub owned_before: u64,
    pub owned_after: u64,
    pub before: FairnessSummary,
    pub after: FairnessSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamFairnessChange {
    pub team_id: String,
    pub name: String,
    /// Over the team and its sub-teams.
    pub change: FairnessChange,
}

/// A rep the simulation would leave above its holding cap.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapPass {
    pub rep_id: String,
    pub name: String,
    pub capacity: u32,
    pub owned_before: u32,
    pub owned_after: u32,
}

/// What a rule change would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SimulationReport {
    pub scope: SimulationScope,
    pub as_of: String,
    /// Owned customers judged, and how many of them keep their owner.
    pub owned_considered: usize,
    pub owned_kept: usize,
    /// Of the kept, those whose owner the current rules would not have chosen either (claimed,
    /// transferred, set by hand): left where they are.
    pub owned_outside_current_rules: usize,
    pub pool_considered: usize,
    /// Every owner change is counted; `owner_changes` lists the first `list_limit` of them in
    /// pool order.
    pub owner_changes_total: usize,
    pub owner_changes: Vec<OwnerChange>,
    pub pool_placed_total: usize,
    pub pool_placed: Vec<PoolPlacement>,
    /// Pool customers the new rules would leave in the pool, by reason.
    pub pool_staying: BTreeMap<String, usize>,
    /// Customers the new rules would place (pool and movers), by rule.
    pub placed_by_rule: BTreeMap<String, usize>,
    pub list_limit: usize,
    pub overall: FairnessChange,
    pub teams: Vec<TeamFairnessChange>,
    /// Reps above their holding cap after (routing never passes a cap; a kept book may).
    pub reps_over_cap: Vec<CapPass>,
}

/// The organisation a simulation starts from.
pub struct SimulationStart<'a> {
    pub current_rules: RuleSet,
    pub new_rules: RuleSet,
    pub teams: &'a [Team],
    pub reps: Vec<RepState>,
    pub strategy_states: &'a BTreeMap<String, StrategyState>,
    pub clock: Clock,
    pub scope: SimulationScope,
    pub list_limit: usize,
}

/// A mover's owner before, and the current rule that had given it to that owner.
type MovedFrom = (RepId, Option<String>);

/// A simulation in progress: owned customers are judged one by one as they are read (only the
/// movers are kept), then [`RuleChangeSimulation::finish`] routes the movers and the pool.
pub struct RuleChangeSimulation<'a> {
    current: RoutingEngine,
    judge: RoutingEngine,
    start: SimulationStart<'a>,
    before: Vec<RepState>,
    owned_considered: usize,
    kept: usize,
    outside_current_rules: usize,
    /// Movers with their owner and the rule that kept them before.
    movers: Vec<(Customer, RepId, Option<String>)>,
    /// Workload each rep is released of, by rep id.
    released: HashMap<RepId, (u32, f64)>,
}

impl<'a> RuleChangeSimulation<'a> {
    pub fn new(start: SimulationStart<'a>) -> RuleChangeSimulation<'a> {
        let current = RoutingEngine::new(
            start.current_rules.clone(),
            start.teams,
            start.reps.clone(),
            start.strategy_states,
            start.clock,
        );
        let judge = RoutingEngine::new(
            start.new_rules.clone(),
            start.teams,
            start.reps.clone(),
            start.strategy_states,
            start.clock,
        );
        RuleChangeSimulation {
            current,
            judge,
            before: start.reps.clone(),
            start,
            owned_considered: 0,
            kept: 0,
            outside_current_rules: 0,
            movers: Vec::new(),
            released: HashMap::new(),
        }
    }

    /// Judges an owned customer (ignored unless the scope has owned customers): kept, or a
    /// mover released from its owner's load.
    pub fn judge_owned(&mut self, customer: &Customer) {
        let Some(owner) = &customer.owner_id else {
            return;
        };
        if !self.start.scope.includes_owned() {
            return;
        }
        self.owned_considered += 1;
        if let RuleAcceptance::Accepted(_) = self.judge.rule_accepting(customer, owner) {
            self.kept += 1;
            return;
        }
        let old_rule = match self.current.rule_accepting(customer, owner) {
            RuleAcceptance::Accepted(index) => Some(self.current.rules().rules[index].name.clone()),
            RuleAcceptance::NotACandidate(_) | RuleAcceptance::NoRuleMatches => {
                self.kept += 1;
                self.outside_current_rules += 1;
                return;
            }
        };
        let released = self.released.entry(owner.clone()).or_insert((0, 0.0));
        released.0 += 1;
        released.1 += customer.workload.get();
        let mut mover = customer.clone();
        mover.owner_id = None;
        self.movers.push((mover, owner.clone(), old_rule));
    }

    /// Routes the movers and `pool` (customers without an owner) by the new rules in pool
    /// order and reports. `parent_owners` are the stored owners of parents the customers name.
    /// With `reps_in_view` (a manager's subtree) fairness, teams and caps are reported over
    /// those reps and their teams only; routing still sees the whole organisation.
    pub fn finish(
        self,
        pool: Vec<Customer>,
        parent_owners: &HashMap<CustomerId, RepId>,
        reps_in_view: Option<&BTreeSet<RepId>>,
    ) -> SimulationReport {
        let RuleChangeSimulation {
            start,
            before,
            owned_considered,
            kept,
            outside_current_rules,
            movers,
            released,
            ..
        } = self;
        let reps_after_release: Vec<RepState> = before
            .iter()
            .map(|rep| {
                let mut rep = rep.clone();
                if let Some((count, workload)) = released.get(&rep.rep.id) {
                    rep.load.owned_count = rep.load.owned_count.saturating_sub(*count);
                    rep.load.owned_workload = (rep.load.owned_workload - workload).max(0.0);
                }
                rep
            })
            .collect();
        let mut engine = RoutingEngine::new(
            start.new_rules.clone(),
            start.teams,
            reps_after_release,
            start.strategy_states,
            start.clock,
        );
        let pool_considered = if start.scope.includes_pool() {
            pool.len()
        } else {
            0
        };
        let mut to_route: Vec<(Customer, Option<MovedFrom>)> = movers
            .into_iter()
            .map(|(customer, owner, rule)| (customer, Some((owner, rule))))
            .collect();
        if start.scope.includes_pool() {
            to_route.extend(
                pool.into_iter()
                    .filter(|customer| customer.owner_id.is_none())
                    .map(|customer| (customer, None)),
            );
        }
        to_route.sort_by(|(left, _), (right, _)| pool_order(left).cmp(&pool_order(right)));

        let list_limit = start.list_limit;
        let mut routed = Routed::default();
        let mut simulated_owners: HashMap<CustomerId, RepId> = HashMap::new();
        for (customer, moved_from) in &to_route {
            let parent_owner = customer.parent_id.as_ref().and_then(|parent| {
                simulated_owners
                    .get(parent)
                    .or_else(|| parent_owners.get(parent))
            });
            let decision = engine.route(customer, parent_owner);
            let new_rule = match &decision.outcome {
                Outcome::Routed { rule_index, .. } => {
                    Some(engine.rules().rules[*rule_index as usize].name.clone())
                }
                _ => None,
            };
            let reason = if decision.is_routed() {
                String::new()
            } else {
                engine.stored(&decision, customer).0.reason
            };
            if let (Some(owner), Some(rule)) = (&decision.owner_id, &new_rule) {
                simulated_owners.insert(customer.id.clone(), owner.clone());
                *routed.placed_by_rule.entry(rule.clone()).or_insert(0) += 1;
            }
            match moved_from {
                Some((from, old_rule)) => {
                    if decision.owner_id.as_ref() == Some(from) {
                        // Routed back to its own owner: no change after all.
                        routed.routed_back += 1;
                        continue;
                    }
                    routed.owner_changes_total += 1;
                    if routed.owner_changes.len() < list_limit {
                        routed.owner_changes.push(OwnerChange {
                            customer_id: customer.id.to_string(),
                            name: customer.name.clone(),
                            from_rep_id: from.to_string(),
                            to_rep_id: decision.owner_id.as_ref().map(ToString::to_string),
                            old_rule: old_rule.clone(),
                            new_rule: new_rule.clone(),
                            reason: if decision.is_routed() {
                                "the owner is not a candidate of the customer's rule under the new rules".to_string()
                            } else {
                                reason
                            },
                        });
                    }
                }
                None => match (&decision.owner_id, new_rule) {
                    (Some(owner), Some(rule)) => {
                        routed.pool_placed_total += 1;
                        if routed.pool_placed.len() < list_limit {
                            routed.pool_placed.push(PoolPlacement {
                                customer_id: customer.id.to_string(),
                                name: customer.name.clone(),
                                to_rep_id: owner.to_string(),
                                new_rule: rule,
                            });
                        }
                    }
                    _ => *routed.pool_staying.entry(reason).or_insert(0) += 1,
                },
            }
        }

        let in_view = |rep: &RepState| reps_in_view.is_none_or(|reps| reps.contains(&rep.rep.id));
        let before: Vec<RepState> = before.into_iter().filter(|rep| in_view(rep)).collect();
        let after: Vec<RepState> = engine
            .reps()
            .iter()
            .filter(|rep| in_view(rep))
            .cloned()
            .collect();
        let teams: Vec<Team> = match reps_in_view {
            None => start.teams.to_vec(),
            Some(_) => {
                let team_ids: BTreeSet<&TeamId> = before
                    .iter()
                    .filter_map(|rep| rep.rep.team_id.as_ref())
                    .collect();
                start
                    .teams
                    .iter()
                    .filter(|team| team_ids.contains(&team.id))
                    .cloned()
                    .collect()
            }
        };
        let (overall, team_rows) = fairness_changes(&teams, &before, &after, start.clock);
        let owned_before: HashMap<&RepId, u32> = before
            .iter()
            .map(|rep| (&rep.rep.id, rep.load.owned_count))
            .collect();
        let reps_over_cap = after
            .iter()
            .filter_map(|rep| {
                let capacity = rep.rep.capacity?;
                (rep.load.owned_count > capacity).then(|| CapPass {
                    rep_id: rep.rep.id.to_string(),
                    name: rep.rep.name.clone(),
                    capacity,
                    owned_before: owned_before.get(&rep.rep.id).copied().unwrap_or(0),
                    owned_after: rep.load.owned_count,
                })
            })
            .collect();
        SimulationReport {
            scope: start.scope,
            as_of: start.clock.now().to_rfc3339(),
            owned_considered,
            owned_kept: kept + routed.routed_back,
            owned_outside_current_rules: outside_current_rules,
            pool_considered,
            owner_changes_total: routed.owner_changes_total,
            owner_changes: routed.owner_changes,
            pool_placed_total: routed.pool_placed_total,
            pool_placed: routed.pool_placed,
            pool_staying: routed.pool_staying,
            placed_by_rule: routed.placed_by_rule,
            list_limit,
            overall,
            teams: team_rows,
            reps_over_cap,
        }
    }
}

/// What routing the movers and the pool came to, gathered before the report is written.
#[derive(Default)]
struct Routed {
    /// Movers the new rules gave back to their own owner.
    routed_back: usize,
    owner_changes_total: usize,
    owner_changes: Vec<OwnerChange>,
    pool_placed_total: usize,
    pool_placed: Vec<PoolPlacement>,
    pool_staying: BTreeMap<String, usize>,
    placed_by_rule: BTreeMap<String, usize>,
}

/// Pool order: customers with a creation time first, oldest first, then those without; ties
/// and the rest by id (byte order), as the store reads the pool.
fn pool_order(customer: &Customer) -> (bool, Option<chrono::DateTime<chrono::Utc>>, &str) {
    (
        customer.created_at.is_none(),
        customer.created_at,
        customer.id.as_str(),
    )
}

/// Owned counts and fairness of `before` and `after` (the same reps with other loads), overall
/// and for each of `teams` (over its subtree).
pub(crate) fn fairness_changes(
    teams: &[Team],
    before: &[RepState],
    after: &[RepState],
    clock: Clock,
) -> (FairnessChange, Vec<TeamFairnessChange>) {
    let report_before = workload_report(teams, before, clock);
    let report_after = workload_report(teams, after, clock);
    let overall = FairnessChange {
        owned_before: owned_total(before.iter()),
        owned_after: owned_total(after.iter()),
        before: report_before.overall.clone(),
        after: report_after.overall.clone(),
    };
    (
        overall,
        team_changes(teams, before, after, &report_before, &report_after),
    )
}

fn owned_total<'r>(reps: impl Iterator<Item = &'r RepState>) -> u64 {
    reps.map(|rep| u64::from(rep.load.owned_count)).sum()
}

fn team_changes(
    teams: &[Team],
    before: &[RepState],
    after: &[RepState],
    report_before: &WorkloadReport,
    report_after: &WorkloadReport,
) -> Vec<TeamFairnessChange> {
    let after_by_team: HashMap<&str, &FairnessSummary> = report_after
        .teams
        .iter()
        .map(|team| (team.team_id.as_str(), &team.fairness))
        .collect();
    report_before
        .teams
        .iter()
        .filter_map(|team| {
            let after_summary = after_by_team.get(team.team_id.as_str())?;
            let root = teams
                .iter()
                .find(|known| known.id.as_str() == team.team_id)?;
            let subtree = team_subtree(teams, &root.id);
            let in_subtree = |rep: &&RepState| {
                rep.rep
                    .team_id
                    .as_ref()
                    .is_some_and(|team| subtree.contains(team))
            };
            Some(TeamFairnessChange {
                team_id: team.team_id.clone(),
                name: team.name.clone(),
                change: FairnessChange {
                    owned_before: owned_total(before.iter().filter(in_subtree)),
                    owned_after: owned_total(after.iter().filter(in_subtree)),
                    before: team.fairness.clone(),
                    after: (*after_summary).clone(),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn rep(id: &str, team: &str, owned: u32, capacity: Option<u32>) -> RepState {
        let mut rep = crate::test_support::rep_state(id, team, capacity);
        rep.load.owned_count = owned;
        rep.load.owned_workload = f64::from(owned);
        rep
    }

    fn team(id: &str) -> Team {
        crate::test_support::team(id, None)
    }

    /// A customer in `region`, created on day `day` of November 2026, owned by `owner` if any.
    fn customer(id: &str, region: &str, day: u32, owner: Option<&str>) -> Customer {
        let mut customer = Customer::new(CustomerId::parse(id).unwrap());
        customer.name = format!("客户 {id}");
        customer.region = crate::ids::Region::parse(region).unwrap();
        customer.created_at = Some(Utc.with_ymd_and_hms(2026, 11, day, 9, 0, 0).unwrap());
        customer.owner_id = owner.map(|owner| RepId::parse(owner).unwrap());
        customer
    }

    fn rules(text: &str) -> RuleSet {
        RuleSet::parse(text).unwrap()
    }

    const NORTH_TO_N_SOUTH_TO_S: &str = r#"
[[rule]]
name = "north"
when = 'region ^= "北京"'
to = { team = "n" }
strategy = "least_loaded"

[[rule]]
name = "south"
when = 'region ^= "广东"'
to = { team = "s" }
strategy = "least_loaded"
"#;

    const EVERYONE_TO_S: &str = r#"
[[rule]]
name = "all-south"
when = 'true'
to = { team = "s" }
strategy = "round_robin"
"#;

    /// Simulates `new` over the reps n1, n2 (team n; n1 capped at `n1_cap`) and s1, s2 (team s)
    /// with `owned` and `pool` customers.
    fn check(
        new: &str,
        scope: SimulationScope,
        owned: &[Customer],
        pool: Vec<Customer>,
        n1_cap: Option<u32>,
    ) -> SimulationReport {
        let mut reps = vec![
            rep("n1", "n", 0, n1_cap),
            rep("n2", "n", 0, None),
            rep("s1", "s", 0, None),
            rep("s2", "s", 0, None),
        ];
        for customer in owned {
            let owner = customer.owner_id.as_ref().unwrap();
            let rep = reps.iter_mut().find(|rep| &rep.rep.id == owner).unwrap();
            rep.load.owned_count += 1;
            rep.load.owned_workload += customer.workload.get();
        }
        simulate(reps, new, scope, 100, owned, pool, None)
    }

    /// Simulates `new` against the north/south rules over `reps` (teams n and s): `owned`
    /// judged, then `pool` routed, reported over `view`.
    fn simulate(
        reps: Vec<RepState>,
        new: &str,
        scope: SimulationScope,
        list_limit: usize,
        owned: &[Customer],
        pool: Vec<Customer>,
        view: Option<&BTreeSet<RepId>>,
    ) -> SimulationReport {
        let teams = vec![team("n"), team("s")];
        let states = BTreeMap::new();
        let mut simulation = RuleChangeSimulation::new(SimulationStart {
            current_rules: rules(NORTH_TO_N_SOUTH_TO_S),
            new_rules: rules(new),
            teams: &teams,
            reps,
            strategy_states: &states,
            clock: Clock::at(Utc.with_ymd_and_hms(2026, 11, 25, 1, 0, 0).unwrap()),
            scope,
            list_limit,
        });
        for customer in owned {
            simulation.judge_owned(customer);
        }
        simulation.finish(pool, &HashMap::new(), view)
    }

    fn moves(report: &SimulationReport) -> Vec<(&str, &str, Option<&str>)> {
        report
            .owner_changes
            .iter()
            .map(|change| {
                (
                    change.customer_id.as_str(),
                    change.from_rep_id.as_str(),
                    change.to_rep_id.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn unchanged_rules_move_nobody_and_place_the_pool_as_routing_would() {
        let owned = [
            customer("c1", "北京/朝阳", 1, Some("n1")),
            customer("c2", "广东/深圳", 2, Some("s1")),
        ];
        let pool = vec![
            customer("p2", "广东/广州", 4, None),
            customer("p1", "北京/海淀", 3, None),
            customer("p3", "上海/浦东", 5, None),
        ];
        let report = check(
            NORTH_TO_N_SOUTH_TO_S,
            SimulationScope::All,
            &owned,
            pool,
            None,
        );
        assert_eq!(report.owned_considered, 2);
        assert_eq!(report.owned_kept, 2);
        assert!(moves(&report).is_empty());
        // Oldest first: p1 (day 3) goes to the emptier northern rep.
        let placed: Vec<(&str, &str)> = report
            .pool_placed
            .iter()
            .map(|placed| (placed.customer_id.as_str(), placed.to_rep_id.as_str()))
            .collect();
        assert_eq!(placed, vec![("p1", "n2"), ("p2", "s2")]);
        assert_eq!(report.pool_placed_total, 2);
        assert_eq!(report.pool_staying.values().sum::<usize>(), 1);
        assert_eq!(report.overall.owned_before, 2);
        assert_eq!(report.overall.owned_after, 4);
    }

    #[test]
    fn moving_a_region_moves_exactly_its_customers_and_reports_fairness() {
        let owned = [
            customer("c1", "北京/朝阳", 1, Some("n1")),
            customer("c2", "北京/海淀", 2, Some("n2")),
            customer("c3", "广东/深圳", 3, Some("s1")),
        ];
        let report = check(EVERYONE_TO_S, SimulationScope::Owned, &owned, vec![], None);
        assert_eq!(report.owned_kept, 1);
        assert_eq!(report.owner_changes_total, 2);
        // Round robin over s1, s2 from the start: c1 to s1, c2 to s2.
        assert_eq!(
            moves(&report),
            vec![("c1", "n1", Some("s1")), ("c2", "n2", Some("s2"))]
        );
        assert_eq!(report.owner_changes[0].old_rule.as_deref(), Some("north"));
        assert_eq!(
            report.owner_changes[0].new_rule.as_deref(),
            Some("all-south")
        );
        let north = report
            .teams
            .iter()
            .find(|team| team.team_id == "n")
            .unwrap();
        assert_eq!(
            (north.change.owned_before, north.change.owned_after),
            (2, 0)
        );
        let south = report
            .teams
            .iter()
            .find(|team| team.team_id == "s")
            .unwrap();
        assert_eq!(
            (south.change.owned_before, south.change.owned_after),
            (1, 3)
        );
        assert_eq!(report.overall.owned_before, report.overall.owned_after);
        assert!(report.overall.after.gini.unwrap() > report.overall.before.gini.unwrap());
    }

    #[test]
    fn the_scope_decides_what_is_routed() {
        let owned = [customer("c1", "北京/朝阳", 1, Some("n1"))];
        let pool = || vec![customer("p1", "广东/广州", 3, None)];
        let pool_only = check(EVERYONE_TO_S, SimulationScope::Pool, &owned, pool(), None);
        assert_eq!(
            (pool_only.owned_considered, pool_only.pool_considered),
            (0, 1)
        );
        assert_eq!(pool_only.pool_placed_total, 1);
        assert_eq!(pool_only.owner_changes_total, 0);
        let owned_only = check(EVERYONE_TO_S, SimulationScope::Owned, &owned, pool(), None);
        assert_eq!(
            (owned_only.owned_considered, owned_only.pool_considered),
            (1, 0)
        );
        assert_eq!(owned_only.pool_placed_total, 0);
        assert_eq!(owned_only.owner_changes_total, 1);
    }

    #[test]
    fn a_customer_no_new_rule_takes_goes_back_to_the_pool_with_the_reason() {
        let only_south = r#"
[[rule]]
name = "south"
when = 'region ^= "广东"'
to = { team = "s" }
strategy = "least_loaded"
"#;
        let owned = [customer("c1", "北京/朝阳", 1, Some("n1"))];
        let report = check(only_south, SimulationScope::Owned, &owned, vec![], None);
        assert_eq!(moves(&report), vec![("c1", "n1", None)]);
        assert!(!report.owner_changes[0].reason.is_empty());
        assert_eq!(report.overall.owned_after, 0);
    }

    #[test]
    fn owners_the_current_rules_did_not_choose_are_left_alone() {
        // c1 in Beijing is held by s1 (claimed, say): the current rules give Beijing to n.
        let owned = [customer("c1", "北京/朝阳", 1, Some("s1"))];
        let only_north_changes = r#"
[[rule]]
name = "north"
when = 'region ^= "北京"'
to = { reps = ["n2"] }
strategy = "least_loaded"
"#;
        let report = check(
            only_north_changes,
            SimulationScope::Owned,
            &owned,
            vec![],
            None,
        );
        assert_eq!(report.owner_changes_total, 0);
        assert_eq!(
            (report.owned_kept, report.owned_outside_current_rules),
            (1, 1)
        );
    }

    #[test]
    fn a_kept_book_above_a_lowered_cap_is_reported() {
        // n1 holds two northern customers but may hold one; the new rules keep both with it.
        let owned = [
            customer("c1", "北京/朝阳", 1, Some("n1")),
            customer("c2", "北京/海淀", 2, Some("n1")),
        ];
        let report = check(
            NORTH_TO_N_SOUTH_TO_S,
            SimulationScope::All,
            &owned,
            vec![customer("p1", "北京/东城", 3, None)],
            Some(1),
        );
        assert_eq!(report.reps_over_cap.len(), 1);
        let pass = &report.reps_over_cap[0];
        assert_eq!(
            (pass.rep_id.as_str(), pass.capacity, pass.owned_after),
            ("n1", 1, 2)
        );
        // The pool customer goes around the capped rep.
        assert_eq!(report.pool_placed[0].to_rep_id, "n2");
    }

    #[test]
    fn a_manager_sees_fairness_of_their_reps_and_teams_only() {
        let view: BTreeSet<RepId> = [RepId::parse("s1").unwrap()].into();
        let report = simulate(
            vec![rep("n1", "n", 1, None), rep("s1", "s", 0, None)],
            EVERYONE_TO_S,
            SimulationScope::All,
            10,
            &[customer("c1", "北京/朝阳", 1, Some("n1"))],
            vec![],
            Some(&view),
        );
        let team_ids: Vec<&str> = report
            .teams
            .iter()
            .map(|team| team.team_id.as_str())
            .collect();
        assert_eq!(team_ids, vec!["s"]);
        assert_eq!(report.overall.before.available_reps, 1);
        assert_eq!(
            (report.overall.owned_before, report.overall.owned_after),
            (0, 1)
        );
    }

    #[test]
    fn lists_are_cut_at_the_limit_but_every_change_is_counted() {
        let owned: Vec<Customer> = (1..=5)
            .map(|day| customer(&format!("c{day}"), "北京/朝阳", day, Some("n1")))
            .collect();
        let report = simulate(
            vec![rep("n1", "n", 5, None), rep("s1", "s", 0, None)],
            EVERYONE_TO_S,
            SimulationScope::Owned,
            2,
            &owned,
            vec![],
            None,
        );
        assert_eq!(report.owner_changes_total, 5);
        assert_eq!(report.owner_changes.len(), 2);
        assert_eq!(report.owner_changes[0].customer_id, "c1");
    }
}
