//! The routing engine: first matching rule, its candidates, its strategy, and a trace of why.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::clock::Clock;
use crate::condition::NodeId;
use crate::customer::Customer;
use crate::ids::{CustomerId, RepId, TeamId};
use crate::model::Team;
use crate::rules::{Rule, RuleSet, StrategyKind, Target};
use crate::strategy::{
    check_availability, check_standing, holding, load_key, pick_round_robin, pick_weighted,
    LoadKey, RepState, StrategyState, Unavailability, WorkingState,
};

mod availability;
mod stored_candidate;

use availability::{Loads, RuleAvailability};
pub use stored_candidate::{StoredCandidate, StoredCandidateOutcome};

/// How a rule fared for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleResult {
    /// The condition was false; the node says which part decided it.
    Mismatch(NodeId),
    /// Matched and chose an owner.
    Matched,
    /// Matched, but no candidate was available, and the rule falls through to the next.
    MatchedFellThrough,
    /// Matched, no candidate was available: the customer stays in the pool.
    MatchedNoCandidate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleStep {
    pub rule_index: u32,
    pub result: RuleResult,
}

/// What happened to one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateOutcome {
    Chosen,
    /// Available, but the strategy preferred another rep.
    NotChosen,
    Skipped(Unavailability),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidateStep {
    pub rule_index: u32,
    /// Position of the rep in the engine's rep table.
    pub rep_position: u32,
    pub outcome: CandidateOutcome,
}

/// Why the winner won, in terms of the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WinReason {
    RoundRobinTurn,
    WeightedTurn,
    PerformanceTurn,
    LeastLoaded,
    FirstTouch,
    FirstTouchUnavailableThenLeastLoaded,
    NoFirstTouchThenLeastLoaded,
    StickyToParentOwner,
    ParentOwnerUnavailableThenLeastLoaded,
    NoParentOwnerThenLeastLoaded,
    NoParentAccountThenLeastLoaded,
}

/// The decision's headline, from which the one-sentence reason is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Routed {
        rule_index: u32,
        why: WinReason,
    },
    AlreadyOwned,
    NoRules,
    NoRuleMatched,
    NoCandidateAvailable {
        rule_index: u32,
    },
    /// Rules matched but had no available candidate and fell through (`fallthrough = true`),
    /// and no later rule matched; `rule_index` is the last of them.
    NoCandidateAfterFallthrough {
        rule_index: u32,
    },
}

impl WinReason {
    /// Whether the winner was the least loaded of the rule's available candidates.
    pub fn by_least_load(self) -> bool {
        !matches!(
            self,
            WinReason::RoundRobinTurn
                | WinReason::WeightedTurn
                | WinReason::PerformanceTurn
                | WinReason::FirstTouch
                | WinReason::StickyToParentOwner
        )
    }
}

/// Available candidates that carried exactly the winner's workload when a least-loaded
/// strategy chose: the reason names them and the tie-break that decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Tie {
    /// The winner's workload before it took the customer.
    pub workload: f64,
    /// The tied rivals first in the least-loaded order (at most [`Tie::NAMED`]), as rep
    /// positions.
    pub named: Vec<usize>,
    /// All tied rivals.
    pub rivals: usize,
    /// Whether the latest assignment separated the winner from every rival; when some rival
    /// was last assigned as long ago as the winner (or neither ever), id order decided.
    pub by_recency: bool,
}

impl Tie {
    pub const NAMED: usize = 3;
}

/// One routing decision in compact form; `RoutingEngine::render` turns it into words.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub customer_id: CustomerId,
    pub owner_id: Option<RepId>,
    pub outcome: Outcome,
    /// Assignment sequence given to the winner (orders least-loaded ties).
    pub assignment_sequence: Option<u64>,
    /// The winner's place in the least-loaded order just before it took the customer: what
    /// its rivals tied with, if any did.
    pub winner_load_before: Option<crate::strategy::LoadKey>,
    pub rule_steps: Vec<RuleStep>,
    pub candidate_steps: Vec<CandidateStep>,
}

impl Decision {
    pub fn is_routed(&self) -> bool {
        matches!(self.outcome, Outcome::Routed { .. })
    }
}

/// A decision in words, as stored, printed by `allot route --json` and returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionRecord {
    pub customer_id: String,
    pub owner_id: Option<String>,
    pub rule: Option<String>,
    pub strategy: Option<String>,
    pub reason: String,
    pub trace: TraceRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceRecord {
    pub rules: Vec<RuleTraceRecord>,
    /// Every chosen and skipped candidate, and the best few that were available but not chosen.
    pub candidates: Vec<CandidateTraceRecord>,
    /// Available candidates not chosen and not listed, to keep traces of large teams readable.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_candidates: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// How many available-but-not-chosen candidates a trace lists per rule (the closest contenders).
pub const LISTED_RUNNERS_UP: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleTraceRecord {
    pub rule: String,
    pub matched: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CandidateTraceRecord {
    pub rule: String,
    pub rep_id: String,
    /// `chosen`, `not_chosen` or `skipped`.
    pub status: String,
    pub reason: String,
}

/// A decision's explanation as it is stored: each rule tried as indices into the rules version
/// the decision was made with, the customer's values of the fields those rules read, and each
/// candidate as its outcome with the load, level or dates its words need (they change right
/// after). The sentences were most of the cost of routing a large pool, in formatting and in
/// bytes written, so they are written on reading instead, by [`render_stored_trace`], and
/// come out exactly as [`RoutingEngine::render`] writes them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StoredTrace {
    /// Always [`StoredTrace::FORMAT`]; a stored trace without it is a full [`TraceRecord`].
    pub format: u32,
    /// The customer's known values of the fields the tried rules read, by field name.
    pub facts: BTreeMap<String, String>,
    /// Each rule tried: `[rule index, result, node]`, result 0 = did not match (decided at
    /// node), 1 = matched, 2 = matched and fell through, 3 = matched without a candidate.
    pub rules: Vec<[u32; 3]>,
    pub candidates: Vec<StoredCandidate>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_candidates: usize,
}

impl StoredTrace {
    pub const FORMAT: u32 = 3;
}

/// The rule part of a trace in words.
fn rule_trace_records(
    rules: &RuleSet,
    steps: &[RuleStep],
    customer: &Customer,
) -> Vec<RuleTraceRecord> {
    steps
        .iter()
        .map(|step| {
            let Some(rule) = rules.rules.get(step.rule_index as usize) else {
                return RuleTraceRecord {
                    rule: format!("#{}", step.rule_index + 1),
                    matched: false,
                    detail: "this rule is not in the stored rules version".to_string(),
                };
            };
            let (matched, detail) = match step.result {
                RuleResult::Mismatch(node) => (false, rule.condition.explain_mismatch(node, customer)),
                RuleResult::Matched => (true, format!("{} matched", rule.condition.source())),
                RuleResult::MatchedFellThrough if step.rule_index as usize + 1 == rules.rules.len() => (
                    true,
                    "matched, but no candidate was available; fallthrough = true, but no rule follows it"
                        .to_string(),
                ),
                RuleResult::MatchedFellThrough => (
                    true,
                    "matched, but no candidate was available; fallthrough = true, so the next rule was tried"
                        .to_string(),
                ),
                RuleResult::MatchedNoCandidate => {
                    (true, "matched, but no candidate was available".to_string())
                }
            };
            RuleTraceRecord {
                rule: rule.name.clone(),
                matched,
                detail,
            }
        })
        .collect()
}

/// A stored trace in words, against the rules version its decision was made with.
pub fn render_stored_trace(
    rules: &RuleSet,
    customer_id: &CustomerId,
    stored: &StoredTrace,
) -> TraceRecord {
    let customer = crate::condition::customer_from_facts(customer_id.clone(), &stored.facts);
    let steps: Vec<RuleStep> = stored
        .rules
        .iter()
        .map(|&[rule_index, result, node]| RuleStep {
            rule_index,
            result: match result {
                0 => RuleResult::Mismatch(NodeId(node)),
                1 => RuleResult::Matched,
                2 => RuleResult::MatchedFellThrough,
                _ => RuleResult::MatchedNoCandidate,
            },
        })
        .collect();
    TraceRecord {
        rules: rule_trace_records(rules, &steps, &customer),
        candidates: stored
            .candidates
            .iter()
            .map(|candidate| candidate.to_record(rules))
            .collect(),
        omitted_candidates: stored.omitted_candidates,
    }
}

/// Everything routing needs, in memory: rules, reps with loads, resolved candidate lists and
/// strategy state. Routing mutates loads and state so a batch sees its own earlier decisions.
#[derive(Debug, Clone)]
pub struct RoutingEngine {
    rules: RuleSet,
    clock: Clock,
    reps: Vec<RepState>,
    rep_positions: HashMap<RepId, usize>,
    rule_candidates: Vec<Vec<usize>>,
    strategy_states: Vec<WorkingState>,
    next_sequence: u64,
    /// Per rep position, packed so scanning a large candidate list reads a few bytes per rep
    /// instead of the whole record; kept in step with `reps` by `assign`.
    load_keys: Vec<LoadKey>,
    holdings: Vec<(u32, u32)>,
    /// Per rule, for the clock's date: which candidates can take customers (built on first
    /// use on a date, then kept up to date by `assign`).
    availability: Vec<Option<RuleAvailability>>,
    /// Per rep position: the rules it is a candidate of, with its index in each.
    memberships: Vec<Vec<(u32, u32)>>,
    // Reused between decisions so the hot path does not allocate for availability flags.
    available_buffer: Vec<bool>,
}

/// Every team id in the subtree rooted at `root`, root included.
pub fn team_subtree(teams: &[Team], root: &TeamId) -> BTreeSet<TeamId> {
    let mut children: HashMap<&TeamId, Vec<&TeamId>> = HashMap::new();
    for team in teams {
        if let Some(parent) = &team.parent_id {
            children.entry(parent).or_default().push(&team.id);
        }
    }
    let mut subtree = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(team) = stack.pop() {
        // The set doubles as a guard against parent cycles in imported data.
        if subtree.insert(team.clone()) {
            if let Some(kids) = children.get(team) {
                stack.extend(kids.iter().copied());
            }
        }
    }
    subtree
}

/// Whether the rules would keep an owner (see [`RoutingEngine::rule_accepting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAcceptance {
    /// This rule (by index) matches the customer and lists the owner.
    Accepted(usize),
    /// The customer's rule (by index) does not list the owner.
    NotACandidate(usize),
    NoRuleMatches,
}

/// What a rule's preferred rep came to (only first touch and sticky have one).
enum PreferredRep {
    /// The preferred rep (by position among all reps) takes the customer.
    Won(usize, WinReason),
    /// The rule's pool decides, for this reason; `skipped` is a preferred rep already listed
    /// as unavailable.
    FallBack {
        reason: WinReason,
        skipped: Option<usize>,
    },
}

/// These strategies pick from the availability's tournament tree of loads, not by turn.
fn picks_least_loaded(strategy: StrategyKind) -> bool {
    matches!(
        strategy,
        StrategyKind::LeastLoaded | StrategyKind::FirstTouch | StrategyKind::Sticky
    )
}

impl RoutingEngine {
    /// Builds an engine over a snapshot. `strategy_states` is keyed by rule name.
    pub fn new(
        rules: RuleSet,
        teams: &[Team],
        mut reps: Vec<RepState>,
        strategy_states: &BTreeMap<String, StrategyState>,
        clock: Clock,
    ) -> RoutingEngine {
        reps.sort_by(|left, right| left.rep.id.cmp(&right.rep.id));
        let rep_positions: HashMap<RepId, usize> = reps
            .iter()
            .enumerate()
            .map(|(position, rep)| (rep.rep.id.clone(), position))
            .collect();
        let rule_candidates: Vec<Vec<usize>> = rules
            .rules
            .iter()
            .map(|rule| Self::resolve_candidates(rule, teams, &reps, &rep_positions))
            .collect();
        let states = rules
            .rules
            .iter()
            .zip(&rule_candidates)
            .map(|(rule, candidates)| {
                let saved = strategy_states.get(&rule.name).cloned().unwrap_or_default();
                WorkingState::new(saved, candidates, &reps)
            })
            .collect();
        let next_sequence = reps
            .iter()
            .map(|rep| rep.load.last_assigned_sequence)
            .max()
            .unwrap_or(0)
            + 1;
        let rule_count = rules.rules.len();
        let mut memberships = vec![Vec::new(); reps.len()];
        for (rule_index, candidates) in rule_candidates.iter().enumerate() {
            for (index, &position) in candidates.iter().enumerate() {
                memberships[position].push((rule_index as u32, index as u32));
            }
        }
        RoutingEngine {
            rules,
            clock,
            rep_positions,
            rule_candidates,
            strategy_states: states,
            next_sequence,
            load_keys: reps.iter().map(load_key).collect(),
            holdings: reps.iter().map(holding).collect(),
            availability: vec![None; rule_count],
            memberships,
            reps,
            available_buffer: Vec::new(),
        }
    }

    fn resolve_candidates(
        rule: &Rule,
        teams: &[Team],
        reps: &[RepState],
        rep_positions: &HashMap<RepId, usize>,
    ) -> Vec<usize> {
        let in_teams = |subtree: &BTreeSet<TeamId>, rep: &RepState| {
            rep.rep
                .team_id
                .as_ref()
                .is_some_and(|team| subtree.contains(team))
        };
        match &rule.target {
            Target::Team(team) => {
                let subtree = team_subtree(teams, team);
                (0..reps.len())
                    .filter(|&position| in_teams(&subtree, &reps[position]))
                    .collect()
            }
            Target::Reps(listed) => listed
                .iter()
                .filter_map(|rep| rep_positions.get(rep).copied())
                .collect(),
            Target::Skill { skill, team } => {
                let subtree = team.as_ref().map(|team| team_subtree(teams, team));
                (0..reps.len())
                    .filter(|&position| {
                        let rep = &reps[position];
                        rep.rep.has_skill(skill)
                            && subtree
                                .as_ref()
                                .is_none_or(|subtree| in_teams(subtree, rep))
                    })
                    .collect()
            }
        }
    }

    pub fn reps(&self) -> &[RepState] {
        &self.reps
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Moves a cached engine to a new clock. Availability is judged at routing time from
    /// the clock's date, so nothing else in the snapshot depends on it.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Strategy state by rule name, for the store to persist after a batch.
    pub fn strategy_states(&self) -> BTreeMap<String, StrategyState> {
        self.rules
            .rules
            .iter()
            .zip(&self.strategy_states)
            .zip(&self.rule_candidates)
            .map(|((rule, state), candidates)| {
                (
                    rule.name.clone(),
                    state.to_strategy_state(candidates, &self.reps),
                )
            })
            .collect()
    }

    /// Which rule of this engine's rules would keep `owner` as the owner of `customer`: the
    /// first matching rule that lists the owner among its candidates, looking past matching
    /// rules only where they fall through (as routing would), and the rule's minimum level
    /// met. The day's availability is not judged: an owner keeps a customer whatever its caps
    /// and absences.
    pub fn rule_accepting(&self, customer: &Customer, owner: &RepId) -> RuleAcceptance {
        let owner_position = self.rep_positions.get(owner).copied();
        let mut first_matching = None;
        for (rule_index, rule) in self.rules.rules.iter().enumerate() {
            if rule.condition.evaluate(customer).is_err() {
                continue;
            }
            first_matching.get_or_insert(rule_index);
            let listed = owner_position.is_some_and(|position| {
                // A rep's memberships are a few rules; a team's candidate list can be hundreds.
                self.memberships[position]
                    .iter()
                    .any(|&(member_of, _)| member_of as usize == rule_index)
                    && rule
                        .min_level
                        .is_none_or(|minimum| self.reps[position].rep.level >= minimum)
            });
            if listed {
                return RuleAcceptance::Accepted(rule_index);
            }
            if !rule.fallthrough {
                return RuleAcceptance::NotACandidate(rule_index);
            }
        }
        match first_matching {
            Some(rule_index) => RuleAcceptance::NotACandidate(rule_index),
            None => RuleAcceptance::NoRuleMatches,
        }
    }

    /// The rules whose candidates rebalancing offers `customer` (indices into the rules): the
    /// first matching rule, and the matching rules before it that fall through.
    pub fn rules_offering(&self, customer: &Customer, offering: &mut Vec<usize>) {
        offering.clear();
        for (rule_index, rule) in self.rules.rules.iter().enumerate() {
            if rule.condition.evaluate(customer).is_err() {
                continue;
            }
            offering.push(rule_index);
            if !rule.fallthrough {
                break;
            }
        }
    }

    /// A rule's candidates (positions into [`RoutingEngine::reps`]) who are active, present
    /// on the clock's date and senior enough for the rule; holding caps are the caller's to
    /// judge.
    pub fn standing_candidates(&self, rule_index: usize) -> Vec<usize> {
        let today = self.clock.today();
        let rule = &self.rules.rules[rule_index];
        self.rule_candidates[rule_index]
            .iter()
            .copied()
            .filter(|&position| check_standing(&self.reps[position], rule.min_level, today).is_ok())
            .collect()
    }

    /// A rep's position in [`RoutingEngine::reps`].
    pub fn rep_position(&self, id: &RepId) -> Option<usize> {
        self.rep_positions.get(id).copied()
    }

    pub fn rep(&self, id: &RepId) -> Option<&RepState> {
        self.rep_positions
            .get(id)
            .map(|&position| &self.reps[position])
    }

    /// Routes one customer. `parent_owner` is the current owner of `customer.parent_id`,
    /// looked up by the caller (the engine does not hold every customer).
    pub fn route(&mut self, customer: &Customer, parent_owner: Option<&RepId>) -> Decision {
        let mut decision = Decision {
            customer_id: customer.id.clone(),
            owner_id: None,
            outcome: Outcome::NoRuleMatched,
            assignment_sequence: None,
            winner_load_before: None,
            // Sized once: growing it step by step was a handful of reallocations per decision.
            rule_steps: Vec::with_capacity(self.rules.rules.len()),
            candidate_steps: Vec::new(),
        };
        if let Some(owner) = &customer.owner_id {
            decision.owner_id = Some(owner.clone());
            decision.outcome = Outcome::AlreadyOwned;
            return decision;
        }
        if self.rules.rules.is_empty() {
            decision.outcome = Outcome::NoRules;
            return decision;
        }
        for rule_index in 0..self.rules.rules.len() {
            let rule = &self.rules.rules[rule_index];
            if let Err(node) = rule.condition.evaluate(customer) {
                decision.rule_steps.push(RuleStep {
                    rule_index: rule_index as u32,
                    result: RuleResult::Mismatch(node),
                });
                continue;
            }
            match self.choose_in_rule(rule_index, customer, parent_owner, &mut decision) {
                Some((winner, why)) => {
                    decision.rule_steps.push(RuleStep {
                        rule_index: rule_index as u32,
                        result: RuleResult::Matched,
                    });
                    self.assign(winner, customer, &mut decision);
                    decision.outcome = Outcome::Routed {
                        rule_index: rule_index as u32,
                        why,
                    };
                    return decision;
                }
                None if self.rules.rules[rule_index].fallthrough => {
                    decision.rule_steps.push(RuleStep {
                        rule_index: rule_index as u32,
                        result: RuleResult::MatchedFellThrough,
                    });
                }
                None => {
                    decision.rule_steps.push(RuleStep {
                        rule_index: rule_index as u32,
                        result: RuleResult::MatchedNoCandidate,
                    });
                    decision.outcome = Outcome::NoCandidateAvailable {
                        rule_index: rule_index as u32,
                    };
                    return decision;
                }
            }
        }
        let fell_through = decision.rule_steps.iter().rev().find_map(|step| {
            (step.result == RuleResult::MatchedFellThrough).then_some(step.rule_index)
        });
        if let Some(rule_index) = fell_through {
            decision.outcome = Outcome::NoCandidateAfterFallthrough { rule_index };
        }
        decision
    }

    fn assign(&mut self, winner: usize, customer: &Customer, decision: &mut Decision) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        decision.winner_load_before = Some(self.load_keys[winner]);
        let rep = &mut self.reps[winner];
        rep.load.owned_count += 1;
        rep.load.owned_workload += customer.workload.get();
        rep.load.last_assigned_sequence = sequence;
        self.load_keys[winner] = load_key(rep);
        self.holdings[winner] = holding(rep);
        decision.owner_id = Some(rep.rep.id.clone());
        decision.assignment_sequence = Some(sequence);
        let loads = Loads {
            keys: &self.load_keys,
            holdings: &self.holdings,
        };
        for &(rule_index, index) in &self.memberships[winner] {
            if let Some(availability) = self.availability[rule_index as usize].as_mut() {
                availability.rep_assigned(
                    index as usize,
                    &self.rule_candidates[rule_index as usize],
                    loads,
                );
            }
        }
    }

    /// Applies the rule's strategy; records every candidate's outcome in the decision.
    fn choose_in_rule(
        &mut self,
        rule_index: usize,
        customer: &Customer,
        parent_owner: Option<&RepId>,
        decision: &mut Decision,
    ) -> Option<(usize, WinReason)> {
        let today = self.clock.today();
        self.refresh_availability(rule_index, today);
        let (fallback_reason, skipped_preferred) =
            match self.try_preferred_rep(rule_index, customer, parent_owner, today, decision) {
                PreferredRep::Won(position, why) => return Some((position, why)),
                PreferredRep::FallBack { reason, skipped } => (reason, skipped),
            };
        let picked = self.pick_by_strategy(rule_index, fallback_reason);
        self.record_chosen_and_skipped(
            rule_index,
            picked.map(|(position, _)| position),
            skipped_preferred,
            decision,
        );
        let candidates = &self.rule_candidates[rule_index];
        picked.map(|(position, why)| (candidates[position], why))
    }

    /// Standings (active, present, senior enough) change only with the date, so a rule's
    /// availability is built on its first customer of each date and kept up to date by
    /// `assign` in between.
    fn refresh_availability(&mut self, rule_index: usize, today: chrono::NaiveDate) {
        let rule = &self.rules.rules[rule_index];
        let slot = &mut self.availability[rule_index];
        if slot
            .as_ref()
            .is_some_and(|availability| availability.date == today)
        {
            return;
        }
        let candidates = &self.rule_candidates[rule_index];
        let reps = &self.reps;
        let standings = candidates
            .iter()
            .map(|&position| check_standing(&reps[position], rule.min_level, today))
            .collect();
        let loads = Loads {
            keys: &self.load_keys,
            holdings: &self.holdings,
        };
        *slot = Some(RuleAvailability::new(
            today,
            standings,
            candidates,
            loads,
            picks_least_loaded(rule.strategy),
        ));
    }

    /// First touch and sticky may name a rep outside the candidate list: the person who
    /// already knows the customer beats the rule's pool, if that person can take it.
    fn try_preferred_rep(
        &self,
        rule_index: usize,
        customer: &Customer,
        parent_owner: Option<&RepId>,
        today: chrono::NaiveDate,
        decision: &mut Decision,
    ) -> PreferredRep {
        let rule = &self.rules.rules[rule_index];
        let (preferred_rep, won, unavailable, missing) = match rule.strategy {
            StrategyKind::FirstTouch => (
                customer.first_touch_rep_id.as_ref(),
                WinReason::FirstTouch,
                WinReason::FirstTouchUnavailableThenLeastLoaded,
                WinReason::NoFirstTouchThenLeastLoaded,
            ),
            StrategyKind::Sticky => (
                parent_owner,
                WinReason::StickyToParentOwner,
                WinReason::ParentOwnerUnavailableThenLeastLoaded,
                if customer.parent_id.is_some() {
                    WinReason::NoParentOwnerThenLeastLoaded
                } else {
                    WinReason::NoParentAccountThenLeastLoaded
                },
            ),
            _ => {
                return PreferredRep::FallBack {
                    reason: WinReason::LeastLoaded,
                    skipped: None,
                }
            }
        };
        let Some(position) = preferred_rep.and_then(|id| self.rep_positions.get(id).copied())
        else {
            return PreferredRep::FallBack {
                reason: missing,
                skipped: None,
            };
        };
        let step = |rep_position: usize, outcome| CandidateStep {
            rule_index: rule_index as u32,
            rep_position: rep_position as u32,
            outcome,
        };
        match check_availability(&self.reps[position], rule.min_level, today) {
            Ok(()) => {
                decision
                    .candidate_steps
                    .push(step(position, CandidateOutcome::Chosen));
                // The rule's unavailable candidates are still listed as skipped, so the trace
                // never shows them as mere runners-up.
                let candidates = &self.rule_candidates[rule_index];
                for (index, why) in self.availability_of(rule_index).unavailable() {
                    if candidates[index] != position {
                        decision
                            .candidate_steps
                            .push(step(candidates[index], CandidateOutcome::Skipped(why)));
                    }
                }
                PreferredRep::Won(position, won)
            }
            Err(why) => {
                decision
                    .candidate_steps
                    .push(step(position, CandidateOutcome::Skipped(why)));
                PreferredRep::FallBack {
                    reason: unavailable,
                    skipped: Some(position),
                }
            }
        }
    }

    /// The rule's own strategy over its available candidates; returns a candidate index.
    fn pick_by_strategy(
        &mut self,
        rule_index: usize,
        fallback_reason: WinReason,
    ) -> Option<(usize, WinReason)> {
        let strategy = self.rules.rules[rule_index].strategy;
        let candidates = &self.rule_candidates[rule_index];
        let availability = self.availability[rule_index]
            .as_ref()
            .expect("refreshed before choosing");
        let state = &mut self.strategy_states[rule_index];
        if picks_least_loaded(strategy) {
            return availability
                .least_loaded()
                .map(|position| (position, fallback_reason));
        }
        self.available_buffer.clear();
        self.available_buffer
            .extend((0..candidates.len()).map(|index| availability.is_available(index)));
        let available = &self.available_buffer;
        match strategy {
            StrategyKind::RoundRobin => pick_round_robin(available, state)
                .map(|position| (position, WinReason::RoundRobinTurn)),
            StrategyKind::Performance => {
                pick_weighted(candidates, &self.reps, available, state, true)
                    .map(|position| (position, WinReason::PerformanceTurn))
            }
            _ => pick_weighted(candidates, &self.reps, available, state, false)
                .map(|position| (position, WinReason::WeightedTurn)),
        }
    }

    /// Only chosen and skipped candidates are recorded here, in candidate order; `render`
    /// lists the runners-up, which keeps the hot path from writing one entry per member of a
    /// large team.
    fn record_chosen_and_skipped(
        &self,
        rule_index: usize,
        chosen: Option<usize>,
        skipped_preferred: Option<usize>,
        decision: &mut Decision,
    ) {
        let candidates = &self.rule_candidates[rule_index];
        let mut chosen_recorded = false;
        let step = |index: usize, outcome| CandidateStep {
            rule_index: rule_index as u32,
            rep_position: candidates[index] as u32,
            outcome,
        };
        for (index, why) in self.availability_of(rule_index).unavailable() {
            if let Some(chosen) = chosen.filter(|&chosen| chosen < index && !chosen_recorded) {
                decision
                    .candidate_steps
                    .push(step(chosen, CandidateOutcome::Chosen));
                chosen_recorded = true;
            }
            // A preferred rep already listed as skipped is not listed again.
            if skipped_preferred != Some(candidates[index]) {
                decision
                    .candidate_steps
                    .push(step(index, CandidateOutcome::Skipped(why)));
            }
        }
        if let Some(chosen) = chosen.filter(|_| !chosen_recorded) {
            decision
                .candidate_steps
                .push(step(chosen, CandidateOutcome::Chosen));
        }
    }

    fn availability_of(&self, rule_index: usize) -> &RuleAvailability {
        self.availability[rule_index]
            .as_ref()
            .expect("refreshed before choosing")
    }

    /// Writes a decision out in words. Call it right after `route` (loads are read as they are now).
    pub fn render(&self, decision: &Decision, customer: &Customer) -> DecisionRecord {
        let (candidates, omitted_candidates, tie) = self.stored_candidates(decision);
        let candidates = candidates
            .iter()
            .map(|candidate| candidate.to_record(&self.rules))
            .collect();
        let (rule, strategy) = self.rule_and_strategy(decision);
        DecisionRecord {
            customer_id: decision.customer_id.to_string(),
            owner_id: decision.owner_id.as_ref().map(ToString::to_string),
            rule,
            strategy,
            reason: self.reason(decision, tie.as_ref()),
            trace: TraceRecord {
                rules: rule_trace_records(&self.rules, &decision.rule_steps, customer),
                candidates,
                omitted_candidates,
            },
        }
    }

    /// The decision with its trace in stored form (see [`StoredTrace`]): what routing a pool
    /// writes. Call it right after `route`, like `render`.
    pub fn stored(
        &self,
        decision: &Decision,
        customer: &Customer,
    ) -> (DecisionRecord, StoredTrace) {
        let mut facts = BTreeMap::new();
        let rules = decision
            .rule_steps
            .iter()
            .map(|step| match step.result {
                RuleResult::Mismatch(node) => {
                    self.rules.rules[step.rule_index as usize]
                        .condition
                        .record_facts(customer, &mut facts);
                    [step.rule_index, 0, node.0]
                }
                RuleResult::Matched => [step.rule_index, 1, 0],
                RuleResult::MatchedFellThrough => [step.rule_index, 2, 0],
                RuleResult::MatchedNoCandidate => [step.rule_index, 3, 0],
            })
            .collect();
        let (candidates, omitted_candidates, tie) = self.stored_candidates(decision);
        let (rule, strategy) = self.rule_and_strategy(decision);
        let record = DecisionRecord {
            customer_id: decision.customer_id.to_string(),
            owner_id: decision.owner_id.as_ref().map(ToString::to_string),
            rule,
            strategy,
            reason: self.reason(decision, tie.as_ref()),
            trace: TraceRecord::default(),
        };
        let stored = StoredTrace {
            format: StoredTrace::FORMAT,
            facts,
            rules,
            candidates,
            omitted_candidates,
        };
        (record, stored)
    }

    fn rule_and_strategy(&self, decision: &Decision) -> (Option<String>, Option<String>) {
        match &decision.outcome {
            Outcome::Routed { rule_index, .. } => {
                let rule = &self.rules.rules[*rule_index as usize];
                (Some(rule.name.clone()), Some(rule.strategy.to_string()))
            }
            _ => (None, None),
        }
    }

    /// Every chosen and skipped candidate, and the closest runners-up of each matched rule,
    /// with the facts their words need; and how many runners-up were left out.
    fn stored_candidates(&self, decision: &Decision) -> (Vec<StoredCandidate>, usize, Option<Tie>) {
        let mut steps = decision.candidate_steps.clone();
        let mut omitted_candidates = 0;
        // The rule that chose by least load, and the winner's load then.
        let tie_rule = match (&decision.outcome, decision.winner_load_before) {
            (Outcome::Routed { rule_index, why }, Some(before)) if why.by_least_load() => {
                Some((*rule_index, before))
            }
            _ => None,
        };
        let mut tie: Option<Tie> = None;
        for rule_step in &decision.rule_steps {
            if matches!(rule_step.result, RuleResult::Mismatch(_)) {
                continue;
            }
            let rule_index = rule_step.rule_index;
            let rule = &self.rules.rules[rule_index as usize];
            let recorded = |position: usize| {
                decision.candidate_steps.iter().any(|step| {
                    step.rule_index == rule_index && step.rep_position as usize == position
                })
            };
            let by_load = matches!(
                rule.strategy,
                StrategyKind::LeastLoaded | StrategyKind::FirstTouch | StrategyKind::Sticky
            );
            // The closest runners-up in one pass: by load for the load-based strategies (kept
            // sorted, at most LISTED_RUNNERS_UP of them), else in candidate order. Sorting every
            // candidate of a large team per decision was most of the cost of explaining it.
            let mut runners_up: Vec<usize> = Vec::with_capacity(LISTED_RUNNERS_UP + 1);
            let mut eligible = 0;
            for &position in &self.rule_candidates[rule_index as usize] {
                if recorded(position) {
                    continue;
                }
                eligible += 1;
                if let Some((_, before)) =
                    tie_rule.filter(|(tied_rule, _)| *tied_rule == rule_index)
                {
                    let key = self.load_keys[position];
                    if key.0 == before.0 {
                        let tie = tie.get_or_insert_with(|| Tie {
                            workload: before.0,
                            named: Vec::new(),
                            rivals: 0,
                            by_recency: true,
                        });
                        tie.rivals += 1;
                        tie.by_recency &= key.1 != before.1;
                        let at = tie.named.partition_point(|other| {
                            crate::strategy::compare_load(&self.load_keys, *other, position)
                                != std::cmp::Ordering::Greater
                        });
                        if at < Tie::NAMED {
                            tie.named.insert(at, position);
                            tie.named.truncate(Tie::NAMED);
                        }
                    }
                }
                if !by_load {
                    if runners_up.len() < LISTED_RUNNERS_UP {
                        runners_up.push(position);
                    }
                    continue;
                }
                let compare = |other: &usize| {
                    crate::strategy::compare_load(&self.load_keys, *other, position)
                };
                if runners_up.len() == LISTED_RUNNERS_UP
                    && runners_up
                        .last()
                        .is_some_and(|last| compare(last) != std::cmp::Ordering::Greater)
                {
                    continue;
                }
                let at = runners_up
                    .partition_point(|other| compare(other) != std::cmp::Ordering::Greater);
                runners_up.insert(at, position);
                runners_up.truncate(LISTED_RUNNERS_UP);
            }
            omitted_candidates += eligible - runners_up.len();
            steps.extend(runners_up.into_iter().map(|position| CandidateStep {
                rule_index,
                rep_position: position as u32,
                outcome: CandidateOutcome::NotChosen,
            }));
        }
        let candidates = steps
            .iter()
            .map(|step| {
                let rep = &self.reps[step.rep_position as usize];
                let rule = &self.rules.rules[step.rule_index as usize];
                let outcome = match step.outcome {
                    CandidateOutcome::Chosen if rule.strategy == StrategyKind::Performance => {
                        StoredCandidateOutcome::ChosenByPerformance {
                            performance_weight: rep.load.performance_weight,
                        }
                    }
                    CandidateOutcome::Chosen => StoredCandidateOutcome::Chosen,
                    CandidateOutcome::NotChosen => match rule.strategy {
                        StrategyKind::RoundRobin | StrategyKind::Weighted => {
                            StoredCandidateOutcome::NotItsTurn
                        }
                        StrategyKind::Performance => {
                            StoredCandidateOutcome::NotItsTurnByPerformance {
                                performance_weight: rep.load.performance_weight,
                            }
                        }
                        _ => StoredCandidateOutcome::Carrying {
                            workload: rep.load.owned_workload,
                            owned: rep.load.owned_count,
                        },
                    },
                    CandidateOutcome::Skipped(Unavailability::Inactive) => {
                        StoredCandidateOutcome::Inactive
                    }
                    CandidateOutcome::Skipped(Unavailability::Absent) => {
                        StoredCandidateOutcome::Absent {
                            from: rep.rep.absent_from,
                            until: rep.rep.absent_until,
                        }
                    }
                    CandidateOutcome::Skipped(Unavailability::BelowMinimumLevel) => {
                        StoredCandidateOutcome::BelowMinimumLevel {
                            level: rep.rep.level,
                        }
                    }
                    CandidateOutcome::Skipped(Unavailability::AtHoldingCap) => {
                        StoredCandidateOutcome::AtHoldingCap {
                            owned: rep.load.owned_count,
                            capacity: rep.rep.capacity.unwrap_or(0),
                        }
                    }
                };
                StoredCandidate {
                    rule_index: step.rule_index,
                    rep_id: rep.rep.id.to_string(),
                    outcome,
                }
            })
            .collect();
        (candidates, omitted_candidates, tie)
    }

    /// "rule 'X' matched but none of its N candidates is available (2 absent, 1 at holding cap)".
    fn no_candidate(&self, rule_index: u32, decision: &Decision) -> String {
        let rule = &self.rules.rules[rule_index as usize];
        let skipped: Vec<Unavailability> = decision
            .candidate_steps
            .iter()
            .filter(|step| step.rule_index == rule_index)
            .filter_map(|step| match step.outcome {
                CandidateOutcome::Skipped(why) => Some(why),
                _ => None,
            })
            .collect();
        if skipped.is_empty() {
            return format!(
                "rule '{}' matched but its target ({}) has no reps",
                rule.name, rule.target
            );
        }
        let count = |kind: Unavailability| skipped.iter().filter(|&&why| why == kind).count();
        let mut parts = Vec::new();
        for (kind, label) in [
            (Unavailability::Inactive, "inactive"),
            (Unavailability::Absent, "absent"),
            (Unavailability::BelowMinimumLevel, "below min_level"),
            (Unavailability::AtHoldingCap, "at holding cap"),
        ] {
            let number = count(kind);
            if number > 0 {
                parts.push(format!("{number} {label}"));
            }
        }
        format!(
            "rule '{}' matched but none of its {} candidates is available ({})",
            rule.name,
            skipped.len(),
            parts.join(", ")
        )
    }

    /// The decision's one-sentence reason; `tie` is what [`Self::stored_candidates`] found.
    fn reason(&self, decision: &Decision, tie: Option<&Tie>) -> String {
        match &decision.outcome {
            Outcome::AlreadyOwned => format!(
                "already owned by {}; routing never moves an owned customer",
                decision.owner_id.as_ref().map_or("?", RepId::as_str)
            ),
            Outcome::NoRules => "no rules are set; the customer stays in the pool".to_string(),
            Outcome::NoRuleMatched => "no rule matched; the customer stays in the pool".to_string(),
            Outcome::NoCandidateAvailable { rule_index } => {
                format!(
                    "{}; the customer stays in the pool",
                    self.no_candidate(*rule_index, decision)
                )
            }
            Outcome::NoCandidateAfterFallthrough { rule_index } => format!(
                "{}; it falls through (fallthrough = true), but no later rule matched, so the customer stays in the pool",
                self.no_candidate(*rule_index, decision)
            ),
            Outcome::Routed { rule_index, why } => {
                let rule = &self.rules.rules[*rule_index as usize];
                let owner = decision.owner_id.as_ref().map_or("?", RepId::as_str);
                let how = match why {
                    WinReason::RoundRobinTurn => format!("round robin: it was {owner}'s turn"),
                    WinReason::WeightedTurn => format!(
                        "weighted round robin: {owner} had the highest running weight"
                    ),
                    WinReason::PerformanceTurn => format!(
                        "performance-weighted round robin: {owner} had the highest running weight (its weight × its performance weight)"
                    ),
                    WinReason::LeastLoaded => {
                        format!("least loaded: {owner} carried the least workload")
                    }
                    WinReason::FirstTouch => format!("first touch: {owner} contacted the customer first"),
                    WinReason::FirstTouchUnavailableThenLeastLoaded => format!(
                        "first touch rep unavailable, so least loaded among the rule's candidates: {owner}"
                    ),
                    WinReason::NoFirstTouchThenLeastLoaded => format!(
                        "no known first touch rep, so least loaded among the rule's candidates: {owner}"
                    ),
                    WinReason::StickyToParentOwner => {
                        format!("sticky: {owner} owns the parent account")
                    }
                    WinReason::ParentOwnerUnavailableThenLeastLoaded => format!(
                        "parent account's owner unavailable, so least loaded among the rule's candidates: {owner}"
                    ),
                    WinReason::NoParentOwnerThenLeastLoaded => format!(
                        "parent account has no owner, so least loaded among the rule's candidates: {owner}"
                    ),
                    WinReason::NoParentAccountThenLeastLoaded => format!(
                        "no parent account, so least loaded among the rule's candidates: {owner}"
                    ),
                };
                match tie {
                    Some(tie) => format!(
                        "rule '{}' matched; {how}, {}",
                        rule.name,
                        self.tie_words(owner, tie)
                    ),
                    None => format!("rule '{}' matched; {how}", rule.name),
                }
            }
        }
    }
}

impl RoutingEngine {
    /// "tied with r07 and r09 at workload 3; the tie went to r05 as the one assigned least
    /// recently" (or "first by id", when the latest assignment did not separate them).
    fn tie_words(&self, owner: &str, tie: &Tie) -> String {
        let mut rivals: Vec<String> = tie
            .named
            .iter()
            .map(|&position| self.reps[position].rep.id.to_string())
            .collect();
        let unnamed = tie.rivals - rivals.len();
        if unnamed > 0 {
            rivals.push(format!(
                "{unnamed} other{}",
                if unnamed == 1 { "" } else { "s" }
            ));
        }
        let listed = match rivals.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        };
        let broken_by = if tie.by_recency {
            "as the one assigned least recently"
        } else {
            "first by id (the latest assignment did not separate them)"
        };
        format!(
            "tied with {listed} at workload {}; the tie went to {owner} {broken_by}",
            tie.workload
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;
    use crate::strategy::RepLoad;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn rep(id: &str, team: &str) -> RepState {
        crate::test_support::rep_state(id, team, None)
    }

    fn team(id: &str, parent: Option<&str>) -> Team {
        crate::test_support::team(id, parent)
    }

    fn customer(id: &str) -> Customer {
        Customer::new(CustomerId::parse(id).unwrap())
    }

    fn clock(day: &str) -> Clock {
        let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
        Clock::at(Utc.from_utc_datetime(&date.and_hms_opt(9, 0, 0).unwrap()))
    }

    fn one_rule(strategy: &str, to: &str) -> RuleSet {
        RuleSet::parse(&format!(
            "[[rule]]\nname = \"all\"\nwhen = 'true'\nto = {to}\nstrategy = \"{strategy}\"\n"
        ))
        .unwrap()
    }

    fn engine(rules: RuleSet, reps: Vec<RepState>, day: &str) -> RoutingEngine {
        let teams = vec![
            team("t", None),
            team("t-sub", Some("t")),
            team("other", None),
        ];
        RoutingEngine::new(rules, &teams, reps, &BTreeMap::new(), clock(day))
    }

    /// Routes `count` fresh customers and returns the owners in order (None = pool).
    fn route_many(engine: &mut RoutingEngine, prefix: &str, count: usize) -> Vec<Option<String>> {
        (0..count)
            .map(|index| {
                let decision = engine.route(&customer(&format!("{prefix}{index}")), None);
                decision.owner_id.map(|owner| owner.to_string())
            })
            .collect()
    }

    fn counts(owners: &[Option<String>]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for owner in owners {
            *counts
                .entry(owner.clone().unwrap_or_else(|| "pool".to_string()))
                .or_insert(0) += 1;
        }
        counts
    }

    fn check_counts(owners: &[Option<String>], expected: &[(&str, usize)]) {
        let expected: BTreeMap<String, usize> = expected
            .iter()
            .map(|(name, count)| (name.to_string(), *count))
            .collect();
        assert_eq!(counts(owners), expected, "{owners:?}");
    }

    /// Routes customers `c0`, `c1`, … in turn over `reps` by least load and checks each reason.
    fn check_tie_reasons(reps: &[&str], expected: &[&str]) {
        let mut engine = engine(
            one_rule("least_loaded", "{ team = \"t\" }"),
            reps.iter().map(|id| rep(id, "t")).collect(),
            "2026-11-25",
        );
        for (index, expected) in expected.iter().enumerate() {
            let customer = customer(&format!("c{index}"));
            let decision = engine.route(&customer, None);
            let record = engine.render(&decision, &customer);
            assert_eq!(record.reason, *expected, "customer c{index}");
            // The stored form gives the same sentence.
            let (stored_record, _) = engine.stored(&decision, &customer);
            assert_eq!(stored_record.reason, *expected, "stored c{index}");
        }
    }

    #[test]
    fn least_loaded_reasons_name_the_tie_and_what_broke_it() {
        let least = "rule 'all' matched; least loaded:";
        check_tie_reasons(
            &["r1", "r2"],
            &[
                &format!("{least} r1 carried the least workload, tied with r2 at workload 0; the tie went to r1 first by id (the latest assignment did not separate them)"),
                // r2 alone carries nothing: no tie.
                &format!("{least} r2 carried the least workload"),
                // Both carry 1; r1 took its customer first.
                &format!("{least} r1 carried the least workload, tied with r2 at workload 1; the tie went to r1 as the one assigned least recently"),
            ],
        );
        check_tie_reasons(
            &["r1", "r2", "r3", "r4", "r5"],
            &[
                &format!("{least} r1 carried the least workload, tied with r2, r3, r4 and 1 other at workload 0; the tie went to r1 first by id (the latest assignment did not separate them)"),
                &format!("{least} r2 carried the least workload, tied with r3, r4 and r5 at workload 0; the tie went to r2 first by id (the latest assignment did not separate them)"),
            ],
        );
    }

    #[test]
    fn round_robin_spreads_evenly_and_wraps() {
        let mut engine = engine(
            one_rule("round_robin", "{ team = \"t\" }"),
            vec![rep("r1", "t"), rep("r2", "t"), rep("r3", "t")],
            "2026-11-25",
        );
        let owners = route_many(&mut engine, "c", 30);
        check_counts(&owners, &[("r1", 10), ("r2", 10), ("r3", 10)]);
        let first_four: Vec<_> = owners[..4]
            .iter()
            .map(|owner| owner.clone().unwrap())
            .collect();
        assert_eq!(first_four, ["r1", "r2", "r3", "r1"]);
    }

    #[test]
    fn round_robin_state_survives_a_restart() {
        let reps = vec![rep("r1", "t"), rep("r2", "t"), rep("r3", "t")];
        let mut first = engine(
            one_rule("round_robin", "{ team = \"t\" }"),
            reps.clone(),
            "2026-11-25",
        );
        route_many(&mut first, "a", 2);
        let saved = first.strategy_states();
        let teams = vec![team("t", None)];
        let mut restarted = RoutingEngine::new(
            one_rule("round_robin", "{ team = \"t\" }"),
            &teams,
            first.reps().to_vec(),
            &saved,
            clock("2026-11-25"),
        );
        assert_eq!(route_many(&mut restarted, "b", 1), [Some("r3".to_string())]);
    }

    #[test]
    fn weighted_one_to_two_over_five_gives_two_and_three() {
        let mut heavy = rep("r2", "t");
        heavy.rep.weight = 2.0;
        let mut engine = engine(
            one_rule("weighted", "{ reps = [\"r1\", \"r2\"] }"),
            vec![rep("r1", "t"), heavy],
            "2026-11-25",
        );
        let owners = route_many(&mut engine, "c", 5);
        check_counts(&owners, &[("r1", 2), ("r2", 3)]);
    }

    #[test]
    fn performance_gives_a_strong_rep_four_times_a_weak_one_and_never_none() {
        let mut strong = rep("r1", "t");
        strong.load.performance_weight = crate::strategy::performance_weight(1.0);
        let mut weak = rep("r2", "t");
        weak.load.performance_weight = crate::strategy::performance_weight(0.0);
        let mut middling = rep("r3", "t");
        middling.load.performance_weight = crate::strategy::performance_weight(1.0 / 3.0);
        assert_eq!(
            (
                strong.load.performance_weight,
                weak.load.performance_weight,
                middling.load.performance_weight
            ),
            (2.0, 0.5, 1.0)
        );
        let mut engine = engine(
            one_rule("performance", "{ reps = [\"r1\", \"r2\", \"r3\"] }"),
            vec![strong, weak, middling],
            "2026-11-25",
        );
        let owners = route_many(&mut engine, "c", 35);
        check_counts(&owners, &[("r1", 20), ("r2", 5), ("r3", 10)]);
        // The same weights without performance: weighted round robin ignores them.
        let mut plain = engine_with_equal_performance();
        let owners = route_many(&mut plain, "c", 6);
        check_counts(&owners, &[("r1", 3), ("r2", 3)]);
    }

    fn engine_with_equal_performance() -> RoutingEngine {
        let mut strong = rep("r1", "t");
        strong.load.performance_weight = 2.0;
        engine(
            one_rule("weighted", "{ reps = [\"r1\", \"r2\"] }"),
            vec![strong, rep("r2", "t")],
            "2026-11-25",
        )
    }

    #[test]
    fn least_loaded_refills_the_rep_whose_customers_were_removed() {
        let mut reps = vec![rep("r1", "t"), rep("r2", "t"), rep("r3", "t")];
        for (position, state) in reps.iter_mut().enumerate() {
            state.load.owned_count = 10;
            state.load.owned_workload = 10.0;
            state.load.last_assigned_sequence = position as u64 + 1;
        }
        // r2 lost five customers (released or transferred away).
        reps[1].load.owned_count = 5;
        reps[1].load.owned_workload = 5.0;
        let mut engine = engine(
            one_rule("least_loaded", "{ team = \"t\" }"),
            reps,
            "2026-11-25",
        );
        let owners = route_many(&mut engine, "c", 5);
        check_counts(&owners, &[("r2", 5)]);
        // Now all equal: ties go to the rep assigned least recently (r1, then r3).
        let owners = route_many(&mut engine, "d", 2);
        assert_eq!(owners, [Some("r1".to_string()), Some("r3".to_string())]);
    }

    #[test]
    fn an_absent_rep_is_skipped_then_gets_customers_after_the_absence() {
        let mut away = rep("r2", "t");
        away.rep.absent_from = NaiveDate::from_ymd_opt(2026, 11, 20);
        away.rep.absent_until = NaiveDate::from_ymd_opt(2026, 11, 30);
        let mut during = engine(
            one_rule("least_loaded", "{ team = \"t\" }"),
            vec![rep("r1", "t"), away],
            "2026-11-30",
        );
        check_counts(&route_many(&mut during, "c", 4), &[("r1", 4)]);
        let mut after = engine(
            one_rule("least_loaded", "{ team = \"t\" }"),
            during.reps().to_vec(),
            "2026-12-01",
        );
        check_counts(&route_many(&mut after, "d", 4), &[("r2", 4)]);
    }

    #[test]
    fn all_candidates_absent_leaves_the_customer_in_the_pool_with_the_reason() {
        let mut away = rep("r1", "t");
        away.rep.absent_from = NaiveDate::from_ymd_opt(2026, 11, 1);
        let mut inactive = rep("r2", "t");
        inactive.rep.active = false;
        let mut engine = engine(
            one_rule("round_robin", "{ team = \"t\" }"),
            vec![away, inactive],
            "2026-11-25",
        );
        let target = customer("c1");
        let decision = engine.route(&target, None);
        assert_eq!(decision.owner_id, None);
        let record = engine.render(&decision, &target);
        assert_eq!(record.rule, None);
        assert!(
            record.reason.contains("1 inactive, 1 absent"),
            "{}",
            record.reason
        );
        assert!(record.reason.contains("pool"), "{}", record.reason);
        assert_eq!(record.trace.candidates.len(), 2);
        assert!(record
            .trace
            .candidates
            .iter()
            .all(|candidate| candidate.status == "skipped"));
    }

    #[test]
    fn a_holding_cap_is_never_passed() {
        let mut capped_one = rep("r1", "t");
        capped_one.rep.capacity = Some(3);
        let mut capped_two = rep("r2", "t");
        capped_two.rep.capacity = Some(2);
        capped_two.load.owned_count = 1;
        for strategy in [
            "round_robin",
            "weighted",
            "least_loaded",
            "first_touch",
            "sticky",
        ] {
            let mut engine = engine(
                one_rule(strategy, "{ team = \"t\" }"),
                vec![capped_one.clone(), capped_two.clone()],
                "2026-11-25",
            );
            let owners = route_many(&mut engine, "c", 10);
            check_counts(&owners, &[("r1", 3), ("r2", 1), ("pool", 6)]);
        }
    }

    #[test]
    fn first_touch_prefers_the_first_contact_then_falls_back_to_least_loaded() {
        let mut engine = engine(
            one_rule("first_touch", "{ team = \"t\" }"),
            vec![rep("r1", "t"), rep("r2", "t"), rep("r9", "other")],
            "2026-11-25",
        );
        let mut touched = customer("c1");
        touched.first_touch_rep_id = Some(RepId::parse("r9").unwrap());
        let decision = engine.route(&touched, None);
        assert_eq!(decision.owner_id.unwrap().as_str(), "r9");
        let untouched = customer("c2");
        let decision = engine.route(&untouched, None);
        assert_eq!(decision.owner_id.as_ref().unwrap().as_str(), "r1");
        let record = engine.render(&decision, &untouched);
        assert!(
            record.reason.contains("no known first touch rep"),
            "{}",
            record.reason
        );
    }

    #[test]
    fn a_first_touch_win_still_lists_unavailable_candidates_as_skipped() {
        let mut inactive = rep("r3", "t");
        inactive.rep.active = false;
        let mut first_touch = engine(
            one_rule("first_touch", "{ team = \"t\" }"),
            vec![rep("r1", "t"), rep("r2", "t"), inactive],
            "2026-11-25",
        );
        let mut touched = customer("c1");
        touched.first_touch_rep_id = Some(RepId::parse("r2").unwrap());
        let decision = first_touch.route(&touched, None);
        let record = first_touch.render(&decision, &touched);
        let listed: Vec<(&str, &str)> = record
            .trace
            .candidates
            .iter()
            .map(|candidate| (candidate.rep_id.as_str(), candidate.status.as_str()))
            .collect();
        assert_eq!(
            listed,
            [("r2", "chosen"), ("r3", "skipped"), ("r1", "not_chosen")]
        );
        // Sticky without a parent account says so, not that the parent has no owner.
        let mut sticky = engine(
            one_rule("sticky", "{ team = \"t\" }"),
            vec![rep("r1", "t")],
            "2026-11-25",
        );
        let orphan = customer("c2");
        let decision = sticky.route(&orphan, None);
        assert!(sticky
            .render(&decision, &orphan)
            .reason
            .contains("no parent account"));
    }

    #[test]
    fn an_unavailable_first_touch_rep_is_listed_once() {
        let mut absent = rep("r1", "t");
        absent.rep.active = false;
        let mut engine = engine(
            one_rule("first_touch", "{ team = \"t\" }"),
            vec![absent, rep("r2", "t")],
            "2026-11-25",
        );
        let mut touched = customer("c1");
        touched.first_touch_rep_id = Some(RepId::parse("r1").unwrap());
        let decision = engine.route(&touched, None);
        assert_eq!(decision.owner_id.as_ref().unwrap().as_str(), "r2");
        let record = engine.render(&decision, &touched);
        let listed: Vec<(&str, &str)> = record
            .trace
            .candidates
            .iter()
            .map(|candidate| (candidate.rep_id.as_str(), candidate.status.as_str()))
            .collect();
        assert_eq!(listed, [("r1", "skipped"), ("r2", "chosen")]);
    }

    #[test]
    fn falling_through_the_last_matching_rule_says_so() {
        let rules = RuleSet::parse(
            r#"
[[rule]]
name = "finance"
when = 'industry == "金融"'
to = { reps = ["r1"] }
strategy = "round_robin"
fallthrough = true

[[rule]]
name = "north"
when = 'region ^= "北京"'
to = { reps = ["r2"] }
strategy = "round_robin"
"#,
        )
        .unwrap();
        let mut absent = rep("r1", "t");
        absent.rep.absent_from = Some(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        let mut two_rules = engine(rules, vec![absent, rep("r2", "t")], "2026-11-25");
        let mut banker = customer("c1");
        banker.industry = "金融".to_string();
        let decision = two_rules.route(&banker, None);
        assert_eq!(decision.owner_id, None);
        assert_eq!(
            decision.outcome,
            Outcome::NoCandidateAfterFallthrough { rule_index: 0 }
        );
        let record = two_rules.render(&decision, &banker);
        assert_eq!(
            record.reason,
            "rule 'finance' matched but none of its 1 candidates is available (1 absent); it falls through (fallthrough = true), but no later rule matched, so the customer stays in the pool"
        );
        assert!(record.trace.rules[0]
            .detail
            .contains("the next rule was tried"));
        assert!(!record.trace.rules[1].matched);
        // As the last rule, the fall-through has nowhere to go, and says so.
        let rules = RuleSet::parse(
            "[[rule]]\nname = \"only\"\nwhen = 'true'\nto = { reps = [\"r1\"] }\nstrategy = \"round_robin\"\nfallthrough = true\n",
        )
        .unwrap();
        let mut absent = rep("r1", "t");
        absent.rep.active = false;
        let mut last = engine(rules, vec![absent], "2026-11-25");
        let decision = last.route(&banker, None);
        let record = last.render(&decision, &banker);
        assert!(
            record.trace.rules[0].detail.contains("no rule follows it"),
            "{}",
            record.trace.rules[0].detail
        );
    }

    #[test]
    fn stored_traces_render_as_the_engine_writes_them() {
        // Every strategy, target kind, mismatch shape and candidate outcome the synthetic
        // organisation produces: the stored form, written back into words from its facts and
        // the rules alone, must equal the engine's own rendering.
        let organisation = crate::demo::synthetic_organisation(5, 8, 60, 3_000, 30);
        let rules = RuleSet::parse(&organisation.rules_toml).unwrap();
        let reps: Vec<RepState> = organisation
            .reps
            .iter()
            .cloned()
            .map(|rep| RepState {
                rep,
                load: RepLoad::default(),
            })
            .collect();
        let mut engine = RoutingEngine::new(
            rules.clone(),
            &organisation.teams,
            reps,
            &BTreeMap::new(),
            clock("2026-11-25"),
        );
        let mut mismatches = 0;
        for customer in &organisation.customers {
            let decision = engine.route(customer, None);
            let rendered = engine.render(&decision, customer);
            // The one-pass selection of runners-up lists what sorting all candidates would.
            for step in decision
                .rule_steps
                .iter()
                .filter(|step| !matches!(step.result, RuleResult::Mismatch(_)))
            {
                let rule = &engine.rules.rules[step.rule_index as usize];
                let recorded: Vec<usize> = decision
                    .candidate_steps
                    .iter()
                    .filter(|candidate| candidate.rule_index == step.rule_index)
                    .map(|candidate| candidate.rep_position as usize)
                    .collect();
                let mut expected: Vec<usize> = engine.rule_candidates[step.rule_index as usize]
                    .iter()
                    .copied()
                    .filter(|position| !recorded.contains(position))
                    .collect();
                if matches!(
                    rule.strategy,
                    StrategyKind::LeastLoaded | StrategyKind::FirstTouch | StrategyKind::Sticky
                ) {
                    expected.sort_by(|&left, &right| {
                        crate::strategy::compare_load(&engine.load_keys, left, right)
                    });
                }
                let expected: Vec<String> = expected
                    .into_iter()
                    .take(LISTED_RUNNERS_UP)
                    .map(|position| engine.reps[position].rep.id.to_string())
                    .collect();
                let listed: Vec<String> = rendered
                    .trace
                    .candidates
                    .iter()
                    .filter(|candidate| {
                        candidate.rule == rule.name && candidate.status == "not_chosen"
                    })
                    .map(|candidate| candidate.rep_id.clone())
                    .collect();
                assert_eq!(listed, expected, "{} {}", customer.id, rule.name);
            }
            let (record, stored) = engine.stored(&decision, customer);
            assert_eq!(record.reason, rendered.reason);
            assert_eq!(
                (&record.rule, &record.strategy),
                (&rendered.rule, &rendered.strategy)
            );
            let json = serde_json::to_string(&stored).unwrap();
            let stored: StoredTrace = serde_json::from_str(&json).unwrap();
            let again = render_stored_trace(&rules, &customer.id, &stored);
            assert_eq!(again, rendered.trace, "{}", customer.id);
            mismatches += rendered
                .trace
                .rules
                .iter()
                .filter(|rule| !rule.matched)
                .count();
        }
        assert!(
            mismatches > 10_000,
            "the sample exercises the explanations: {mismatches}"
        );
    }

    #[test]
    fn sticky_follows_the_parent_owner() {
        let mut engine = engine(
            one_rule("sticky", "{ team = \"t\" }"),
            vec![rep("r1", "t"), rep("r2", "t")],
            "2026-11-25",
        );
        let parent_owner = RepId::parse("r2").unwrap();
        let decision = engine.route(&customer("child"), Some(&parent_owner));
        assert_eq!(decision.owner_id.unwrap().as_str(), "r2");
    }

    #[test]
    fn sticky_falls_back_to_least_loaded_when_the_parent_owner_is_unavailable() {
        let mut busy = rep("r1", "t");
        busy.load.owned_count = 4;
        busy.load.owned_workload = 4.0;
        let mut away = rep("r2", "t");
        away.rep.absent_from = NaiveDate::from_ymd_opt(2026, 11, 20);
        away.rep.absent_until = NaiveDate::from_ymd_opt(2026, 11, 30);
        let mut engine = engine(
            one_rule("sticky", "{ team = \"t\" }"),
            vec![busy, away, rep("r3", "t")],
            "2026-11-25",
        );
        let parent_owner = RepId::parse("r2").unwrap();
        let child = customer("child");
        let decision = engine.route(&child, Some(&parent_owner));
        assert_eq!(decision.owner_id.as_ref().unwrap().as_str(), "r3");
        let record = engine.render(&decision, &child);
        let r2 = record
            .trace
            .candidates
            .iter()
            .find(|candidate| candidate.rep_id == "r2")
            .expect("the parent's owner is listed");
        assert_eq!(r2.status, "skipped", "{record:?}");
        assert!(r2.reason.contains("absent"), "{record:?}");
    }

    #[test]
    fn round_robin_over_a_rep_list_follows_the_list_and_resumes_after_a_removed_rep() {
        // The rotation follows the order written in the rule, not the ids.
        let reps = vec![rep("r1", "t"), rep("r2", "t"), rep("r3", "t")];
        let rules = || one_rule("round_robin", "{ reps = [\"r3\", \"r1\", \"r2\"] }");
        let mut first = engine(rules(), reps.clone(), "2026-11-25");
        let owners: Vec<_> = route_many(&mut first, "a", 4)
            .into_iter()
            .map(Option::unwrap)
            .collect();
        assert_eq!(owners, ["r3", "r1", "r2", "r3"]);
        // r3 won last and then left the company: the rotation goes on with the rep after it
        // in the list (r1), not back at the start.
        let saved = first.strategy_states();
        let teams = vec![team("t", None)];
        let remaining: Vec<RepState> = first
            .reps()
            .iter()
            .filter(|state| state.rep.id.as_str() != "r3")
            .cloned()
            .collect();
        let mut restarted = RoutingEngine::new(
            one_rule("round_robin", "{ reps = [\"r1\", \"r2\"] }"),
            &teams,
            remaining,
            &saved,
            clock("2026-11-25"),
        );
        let owners: Vec<_> = route_many(&mut restarted, "b", 3)
            .into_iter()
            .map(Option::unwrap)
            .collect();
        assert_eq!(owners, ["r1", "r2", "r1"]);
    }

    #[test]
    fn every_candidate_absent_leaves_the_customer_in_the_pool() {
        let absent = |id: &str| {
            let mut away = rep(id, "t");
            away.rep.absent_from = NaiveDate::from_ymd_opt(2026, 11, 20);
            away.rep.absent_until = NaiveDate::from_ymd_opt(2026, 11, 30);
            away
        };
        for strategy in [
            "round_robin",
            "weighted",
            "least_loaded",
            "first_touch",
            "sticky",
        ] {
            let mut engine = engine(
                one_rule(strategy, "{ team = \"t\" }"),
                vec![absent("r1"), absent("r2")],
                "2026-11-25",
            );
            let target = customer("c1");
            let decision = engine.route(&target, None);
            assert_eq!(decision.owner_id, None, "{strategy}");
            let record = engine.render(&decision, &target);
            assert!(
                record.reason.contains("2 absent"),
                "{strategy}: {}",
                record.reason
            );
            assert!(
                record.reason.contains("pool"),
                "{strategy}: {}",
                record.reason
            );
        }
    }

    #[test]
    fn min_level_sub_teams_skills_and_fallthrough() {
        let mut senior = rep("r3", "t-sub");
        senior.rep.level = Level::Senior;
        senior.rep.skills = vec!["金融".to_string()];
        let rules = RuleSet::parse(
            r#"
[[rule]]
name = "seniors"
when = 'tier == "A"'
to = { team = "t" }
strategy = "least_loaded"
min_level = "senior"

[[rule]]
name = "finance"
when = 'industry == "金融"'
to = { skill = "金融", team = "other" }
strategy = "round_robin"
fallthrough = true

[[rule]]
name = "fallback"
when = 'true'
to = { reps = ["r1"] }
strategy = "round_robin"
"#,
        )
        .unwrap();
        let mut engine = engine(
            rules,
            vec![rep("r1", "t"), rep("r2", "t"), senior],
            "2026-11-25",
        );
        let mut key_account = customer("a");
        key_account.tier = Some(crate::TierName::from_stored("A"));
        let decision = engine.route(&key_account, None);
        assert_eq!(
            decision.owner_id.as_ref().unwrap().as_str(),
            "r3",
            "sub-team senior"
        );
        let record = engine.render(&decision, &key_account);
        let skipped: Vec<_> = record
            .trace
            .candidates
            .iter()
            .filter(|candidate| candidate.status == "skipped")
            .collect();
        assert_eq!(skipped.len(), 2, "{record:?}");
        assert!(skipped[0].reason.contains("min_level"));

        // No 金融 rep in team "other": the rule falls through to the fallback.
        let mut finance = customer("f");
        finance.industry = "金融".to_string();
        let decision = engine.route(&finance, None);
        assert_eq!(decision.owner_id.as_ref().unwrap().as_str(), "r1");
        let record = engine.render(&decision, &finance);
        assert_eq!(record.rule.as_deref(), Some("fallback"));
        assert_eq!(record.trace.rules.len(), 3);
        assert!(!record.trace.rules[0].matched);
        assert!(record.trace.rules[1].detail.contains("fallthrough"));
    }

    #[test]
    fn an_owned_customer_is_never_rerouted() {
        let mut engine = engine(
            one_rule("round_robin", "{ team = \"t\" }"),
            vec![rep("r1", "t")],
            "2026-11-25",
        );
        let mut owned = customer("c");
        owned.owner_id = Some(RepId::parse("r9").unwrap());
        let decision = engine.route(&owned, None);
        assert_eq!(decision.outcome, Outcome::AlreadyOwned);
        assert_eq!(engine.reps()[0].load.owned_count, 0);
    }

    #[test]
    fn traces_of_large_teams_list_the_closest_runners_up() {
        let mut reps: Vec<RepState> = (0..8).map(|index| rep(&format!("r{index}"), "t")).collect();
        for (index, state) in reps.iter_mut().enumerate() {
            state.load.owned_workload = (8 - index) as f64;
        }
        reps[3].rep.active = false;
        let mut engine = engine(
            one_rule("least_loaded", "{ team = \"t\" }"),
            reps,
            "2026-11-25",
        );
        let target = customer("c");
        let decision = engine.route(&target, None);
        assert_eq!(decision.owner_id.as_ref().unwrap().as_str(), "r7");
        let record = engine.render(&decision, &target);
        let statuses: Vec<(&str, &str)> = record
            .trace
            .candidates
            .iter()
            .map(|candidate| (candidate.rep_id.as_str(), candidate.status.as_str()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("r3", "skipped"),
                ("r7", "chosen"),
                ("r6", "not_chosen"),
                ("r5", "not_chosen"),
                ("r4", "not_chosen"),
                ("r2", "not_chosen"),
                ("r1", "not_chosen"),
            ]
        );
        assert_eq!(record.trace.omitted_candidates, 1);
    }

    #[test]
    fn no_match_stays_in_the_pool() {
        let rules = RuleSet::parse(
            "[[rule]]\nname = \"only-A\"\nwhen = 'tier == \"A\"'\nto = { team = \"t\" }\nstrategy = \"round_robin\"\n",
        )
        .unwrap();
        let mut engine = engine(rules, vec![rep("r1", "t")], "2026-11-25");
        let mut target = customer("c");
        target.tier = Some(crate::TierName::from_stored("B"));
        let decision = engine.route(&target, None);
        let record = engine.render(&decision, &target);
        assert_eq!(record.owner_id, None);
        assert!(record.reason.starts_with("no rule matched"));
        assert!(
            record.trace.rules[0].detail.contains("tier is \"B\""),
            "{}",
            record.trace.rules[0].detail
        );
    }
}
