//! The public pool (公海): the `[pool]` policy, why a claim is refused, and when an owned
//! customer without real follow-up is warned and reclaimed. Pure: the store gathers the counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::activity::InteractionKind;

/// Who must approve a transfer of a customer of some tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TransferApproval {
    /// The manager of the from-rep's team.
    #[default]
    TeamManager,
    /// That manager, then the manager of that manager.
    TwoLevels,
}

impl TransferApproval {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferApproval::TeamManager => "team_manager",
            TransferApproval::TwoLevels => "two_levels",
        }
    }

    pub fn parse(raw: &str) -> Option<TransferApproval> {
        match raw.trim() {
            "team_manager" => Some(TransferApproval::TeamManager),
            "two_levels" => Some(TransferApproval::TwoLevels),
            _ => None,
        }
    }

    /// How many approvals a transfer needs: the strictest over its customers' tiers.
    pub fn levels(self) -> usize {
        match self {
            TransferApproval::TeamManager => 1,
            TransferApproval::TwoLevels => 2,
        }
    }
}

/// Why customers are transferred (the `reason_kind` of a transfer and of its events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferReason {
    RepLeft,
    TeamChange,
    CustomerRequest,
    Performance,
    Reclaim,
    Rebalance,
    Conflict,
    Other,
}

impl TransferReason {
    pub const ALL: [TransferReason; 8] = [
        TransferReason::RepLeft,
        TransferReason::TeamChange,
        TransferReason::CustomerRequest,
        TransferReason::Performance,
        TransferReason::Reclaim,
        TransferReason::Rebalance,
        TransferReason::Conflict,
        TransferReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferReason::RepLeft => "rep_left",
            TransferReason::TeamChange => "team_change",
            TransferReason::CustomerRequest => "customer_request",
            TransferReason::Performance => "performance",
            TransferReason::Reclaim => "reclaim",
            TransferReason::Rebalance => "rebalance",
            TransferReason::Conflict => "conflict",
            TransferReason::Other => "other",
        }
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<TransferReason, crate::FieldError> {
        TransferReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == raw.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = TransferReason::ALL
                    .iter()
                    .map(|reason| reason.as_str())
                    .collect();
                crate::FieldError::new(
                    field,
                    format!("'{}' is not one of {}", raw.trim(), names.join("|")),
                )
            })
    }
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Waiting for an approval.
    Requested,
    /// Approved; waiting for the new owner to accept the hand-over.
    Approved,
    Accepted,
    Rejected,
    Declined,
    Cancelled,
}

impl TransferState {
    pub const ALL: [TransferState; 6] = [
        TransferState::Requested,
        TransferState::Approved,
        TransferState::Accepted,
        TransferState::Rejected,
        TransferState::Declined,
        TransferState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Requested => "requested",
            TransferState::Approved => "approved",
            TransferState::Accepted => "accepted",
            TransferState::Rejected => "rejected",
            TransferState::Declined => "declined",
            TransferState::Cancelled => "cancelled",
        }
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<TransferState, crate::FieldError> {
        TransferState::ALL
            .into_iter()
            .find(|state| state.as_str() == raw.trim())
            .ok_or_else(|| {
                crate::FieldError::new(
                    field,
                    format!(
                        "'{}' is not one of requested|approved|accepted|rejected|declined|cancelled",
                        raw.trim()
                    ),
                )
            })
    }

    /// Still holding its customers (one open transfer per customer).
    pub fn is_open(self) -> bool {
        matches!(self, TransferState::Requested | TransferState::Approved)
    }
}

/// An interaction that counts as real follow-up: its kind, and its outcome when one is named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealFollowUp {
    pub kind: InteractionKind,
    pub outcome: Option<String>,
}

/// The `[pool]` section of the policy: claim limits, holding caps, cooldown, reclaim and
/// transfer approval. Per-tier maps are keyed by the policy's tier names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolPolicy {
    /// Claims per rep per calendar day (the organisation's calendar).
    pub claim_limit_per_day: u32,
    /// Most customers of a tier a rep may hold, on top of the rep's own capacity.
    pub holding_cap: BTreeMap<String, u32>,
    /// Days a rep cannot re-claim a customer it released or lost.
    pub cooldown_days: u32,
    /// Days without real follow-up after which an owned customer of a tier returns to the
    /// pool; a tier not named is never reclaimed.
    pub reclaim_after_days: BTreeMap<String, u32>,
    /// Days before a reclaim at which the owner is warned (once).
    pub warn_before_days: u32,
    pub real_follow_up: Vec<RealFollowUp>,
    /// Days after a claim during which the customer is not reclaimed.
    pub protect_days_after_claim: u32,
    /// Approval per tier; a tier not named needs its team manager.
    pub transfer_approval: BTreeMap<String, TransferApproval>,
    /// Days the old owner keeps read access after a hand-over.
    pub handover_read_days: u32,
}

impl Default for PoolPolicy {
    /// Without a `[pool]` section nothing is reclaimed: reclaim takes customers from their
    /// owners, so an organisation turns it on by naming its days.
    fn default() -> Self {
        PoolPolicy {
            claim_limit_per_day: 20,
            holding_cap: BTreeMap::new(),
            cooldown_days: 30,
            reclaim_after_days: BTreeMap::new(),
            warn_before_days: 5,
            real_follow_up: vec![
                RealFollowUp {
                    kind: InteractionKind::Visit,
                    outcome: None,
                },
                RealFollowUp {
                    kind: InteractionKind::Call,
                    outcome: Some("reached".to_string()),
                },
                RealFollowUp {
                    kind: InteractionKind::Meeting,
                    outcome: None,
                },
            ],
            protect_days_after_claim: 7,
            transfer_approval: BTreeMap::new(),
            handover_read_days: 14,
        }
    }
}

impl PoolPolicy {
    /// Whether an interaction of this kind and outcome resets the reclaim clock.
    pub fn is_real_follow_up(&self, kind: InteractionKind, outcome: &str) -> bool {
        self.real_follow_up.iter().any(|real| {
            real.kind == kind
                && real
                    .outcome
                    .as_deref()
                    .is_none_or(|wanted| wanted == outcome.trim())
        })
    }

    /// The approval a set of tiers needs: two levels if any of them asks for it.
    pub fn approval_for<'a>(
        &self,
        tiers: impl IntoIterator<Item = Option<&'a str>>,
    ) -> TransferApproval {
        tiers
            .into_iter()
            .flatten()
            .filter_map(|tier| self.transfer_approval.get(tier).copied())
            .max_by_key(|approval| approval.levels())
            .unwrap_or_default()
    }
}

/// Why a claim is refused; `code` is the API error code, the message carries the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// Someone owns it; `owner` only when the caller may see them.
    Owned {
        owner: Option<String>,
    },
    HoldingCap {
        tier: String,
        held: u64,
        cap: u32,
    },
    Capacity {
        owned: u64,
        capacity: u32,
    },
    ClaimLimit {
        claims_today: u64,
        limit: u32,
    },
    Cooldown {
        lost_on: NaiveDate,
        claimable_from: NaiveDate,
        how: &'static str,
    },
    Inactive,
    Absent {
        until: Option<NaiveDate>,
    },
}

impl ClaimRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            ClaimRefusal::Owned { .. } => "owned",
            ClaimRefusal::HoldingCap { .. } | ClaimRefusal::Capacity { .. } => "holding_cap",
            ClaimRefusal::ClaimLimit { .. } => "claim_limit",
            ClaimRefusal::Cooldown { .. } => "cooldown",
            ClaimRefusal::Inactive => "inactive",
            ClaimRefusal::Absent { .. } => "absent",
        }
    }

    /// The refusal as a sentence to word in another language: its kind (a key of a message
    /// catalogue) and the values the sentence names.
    pub fn wording(&self) -> (&'static str, Vec<(&'static str, String)>) {
        match self {
            ClaimRefusal::Owned { owner: Some(owner) } => {
                ("owned_by", vec![("owner", owner.to_string())])
            }
            ClaimRefusal::Owned { owner: None } => ("owned", Vec::new()),
            ClaimRefusal::HoldingCap { tier, held, cap } => (
                "holding_cap_tier",
                vec![
                    ("tier", tier.to_string()),
                    ("held", held.to_string()),
                    ("cap", cap.to_string()),
                ],
            ),
            ClaimRefusal::Capacity { owned, capacity } => (
                "holding_cap",
                vec![("held", owned.to_string()), ("cap", capacity.to_string())],
            ),
            ClaimRefusal::ClaimLimit {
                claims_today,
                limit,
            } => (
                "claim_limit",
                vec![
                    ("claims", claims_today.to_string()),
                    ("limit", limit.to_string()),
                ],
            ),
            ClaimRefusal::Cooldown {
                lost_on,
                claimable_from,
                how,
            } => {
                let kind = if how.starts_with("released") {
                    "cooldown_released"
                } else if how.starts_with("reclaimed") {
                    "cooldown_reclaimed"
                } else {
                    "cooldown_taken"
                };
                (
                    kind,
                    vec![
                        ("lost_on", lost_on.to_string()),
                        ("claimable_from", claimable_from.to_string()),
                    ],
                )
            }
            ClaimRefusal::Inactive => ("inactive", Vec::new()),
            ClaimRefusal::Absent { until: Some(until) } => {
                ("absent_until", vec![("until", until.to_string())])
            }
            ClaimRefusal::Absent { until: None } => ("absent", Vec::new()),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ClaimRefusal::Owned { owner: Some(owner) } => {
                format!("the customer is owned by {owner}")
            }
            ClaimRefusal::Owned { owner: None } => "the customer is already owned".to_string(),
            ClaimRefusal::HoldingCap { tier, held, cap } => {
                format!("holding cap reached: {held} of {cap} {tier} customers")
            }
            ClaimRefusal::Capacity { owned, capacity } => {
                format!("holding cap reached: {owned} of {capacity} customers")
            }
            ClaimRefusal::ClaimLimit {
                claims_today,
                limit,
            } => format!("claim limit reached: {claims_today} claims today, limit {limit}"),
            ClaimRefusal::Cooldown {
                lost_on,
                claimable_from,
                how,
            } => format!(
                "cooldown: {how} on {}, claimable from {}",
                lost_on.format("%m-%d"),
                claimable_from.format("%m-%d")
            ),
            ClaimRefusal::Inactive => "the rep is inactive".to_string(),
            ClaimRefusal::Absent { until: Some(until) } => {
                format!("the rep is absent until {until}")
            }
            ClaimRefusal::Absent { until: None } => "the rep is absent".to_string(),
        }
    }
}

/// Everything a claim is judged on, gathered by the store under the write lock.
#[derive(Debug, Clone)]
pub struct ClaimCheck<'a> {
    pub rep_active: bool,
    pub rep_absent: bool,
    pub rep_absent_until: Option<NaiveDate>,
    pub rep_owned: u64,
    pub rep_capacity: Option<u32>,
    pub tier: Option<&'a str>,
    /// Customers of `tier` the rep holds now.
    pub held_in_tier: u64,
    pub claims_today: u64,
    /// When the rep last released or lost this customer, and how.
    pub last_lost: Option<(DateTime<Utc>, &'static str)>,
}

/// The first reason a claim by a rep of a pool customer is refused, in the order a rep would
/// want to hear them: who they are, what they hold, what they did today, this customer.
pub fn claim_refusal(
    policy: &PoolPolicy,
    check: &ClaimCheck<'_>,
    today: NaiveDate,
    to_date: impl Fn(DateTime<Utc>) -> NaiveDate,
) -> Option<ClaimRefusal> {
    if !check.rep_active {
        return Some(ClaimRefusal::Inactive);
    }
    if check.rep_absent {
        return Some(ClaimRefusal::Absent {
            until: check.rep_absent_until,
        });
    }
    if let Some(capacity) = check.rep_capacity {
        if check.rep_owned >= u64::from(capacity) {
            return Some(ClaimRefusal::Capacity {
                owned: check.rep_owned,
                capacity,
            });
        }
    }
    if let Some(tier) = check.tier {
        if let Some(&cap) = policy.holding_cap.get(tier) {
            if check.held_in_tier >= u64::from(cap) {
                return Some(ClaimRefusal::HoldingCap {
                    tier: tier.to_string(),
                    held: check.held_in_tier,
                    cap,
                });
            }
        }
    }
    if check.claims_today >= u64::from(policy.claim_limit_per_day) {
        return Some(ClaimRefusal::ClaimLimit {
            claims_today: check.claims_today,
            limit: policy.claim_limit_per_day,
        });
    }
    if let Some((lost_at, how)) = check.last_lost {
        let lost_on = to_date(lost_at);
        let claimable_from = lost_on + Duration::days(i64::from(policy.cooldown_days));
        if today < claimable_from {
            return Some(ClaimRefusal::Cooldown {
                lost_on,
                claimable_from,
                how,
            });
        }
    }
    None
}

/// Where an owned customer stands on the reclaim clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReclaimStanding {
    /// Followed up recently enough, protected after a claim, or of a tier never reclaimed.
    Kept,
    /// Inside the warning window: warn the owner (once) that it is reclaimed on `reclaim_on`.
    Warn { reclaim_on: NaiveDate },
    /// Due: back to the pool.
    Reclaim,
}

/// One owned customer as the reclaim job sees it.
#[derive(Debug, Clone, Copy)]
pub struct ReclaimFacts<'a> {
    pub tier: Option<&'a str>,
    /// When the current owner got it (claim, routing, transfer, assignment).
    pub owned_since: DateTime<Utc>,
    /// Whether the current owner got it by a claim (only then does claim protection apply).
    pub claimed: bool,
    /// The owner's last real follow-up, if any.
    pub last_real_follow_up: Option<DateTime<Utc>>,
}

/// Whether to keep, warn or reclaim: the clock starts at the later of the time the owner got
/// the customer and its last real follow-up; days count on the organisation's calendar.
pub fn reclaim_standing(
    policy: &PoolPolicy,
    facts: &ReclaimFacts<'_>,
    today: NaiveDate,
    to_date: impl Fn(DateTime<Utc>) -> NaiveDate,
) -> (ReclaimStanding, i64) {
    let Some(&after_days) = facts
        .tier
        .and_then(|tier| policy.reclaim_after_days.get(tier))
    else {
        return (ReclaimStanding::Kept, 0);
    };
    let start = facts
        .last_real_follow_up
        .map_or(facts.owned_since, |last| last.max(facts.owned_since));
    let idle_days = (today - to_date(start)).num_days();
    if facts.claimed {
        let protected_until =
            to_date(facts.owned_since) + Duration::days(i64::from(policy.protect_days_after_claim));
        if today < protected_until {
            return (ReclaimStanding::Kept, idle_days);
        }
    }
    let after = i64::from(after_days);
    if idle_days >= after {
        return (ReclaimStanding::Reclaim, idle_days);
    }
    if idle_days >= after - i64::from(policy.warn_before_days) {
        let reclaim_on = to_date(start) + Duration::days(after);
        return (ReclaimStanding::Warn { reclaim_on }, idle_days);
    }
    (ReclaimStanding::Kept, idle_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        date(text).and_hms_opt(10, 0, 0).unwrap().and_utc()
    }

    fn policy() -> PoolPolicy {
        PoolPolicy {
            reclaim_after_days: BTreeMap::from([("A".to_string(), 60), ("C".to_string(), 15)]),
            holding_cap: BTreeMap::from([("B".to_string(), 2)]),
            claim_limit_per_day: 3,
            ..PoolPolicy::default()
        }
    }

    #[test]
    fn reclaim_warns_then_reclaims_on_the_right_day_per_tier() {
        let check = |tier: Option<&str>,
                     owned: &str,
                     claimed: bool,
                     last: Option<&str>,
                     today: &str,
                     expected: ReclaimStanding| {
            let facts = ReclaimFacts {
                tier,
                owned_since: at(owned),
                claimed,
                last_real_follow_up: last.map(at),
            };
            let (standing, _) =
                reclaim_standing(&policy(), &facts, date(today), |time| time.date_naive());
            assert_eq!(standing, expected, "{tier:?} {owned} {last:?} {today}");
        };
        use ReclaimStanding::*;
        let c_on = date("2027-01-16");
        check(Some("C"), "2027-01-01", false, None, "2027-01-10", Kept);
        check(
            Some("C"),
            "2027-01-01",
            false,
            None,
            "2027-01-11",
            Warn { reclaim_on: c_on },
        );
        check(
            Some("C"),
            "2027-01-01",
            false,
            None,
            "2027-01-15",
            Warn { reclaim_on: c_on },
        );
        check(Some("C"), "2027-01-01", false, None, "2027-01-16", Reclaim);
        // A follow-up moves the clock; one before the owner got it does not.
        check(
            Some("C"),
            "2027-01-01",
            false,
            Some("2027-01-10"),
            "2027-01-16",
            Kept,
        );
        check(
            Some("C"),
            "2027-01-10",
            false,
            Some("2027-01-01"),
            "2027-01-19",
            Kept,
        );
        check(
            Some("C"),
            "2027-01-10",
            false,
            Some("2027-01-01"),
            "2027-01-25",
            Reclaim,
        );
        check(
            Some("A"),
            "2027-01-01",
            false,
            None,
            "2027-03-01",
            Warn {
                reclaim_on: date("2027-03-02"),
            },
        );
        check(Some("A"), "2027-01-01", false, None, "2027-03-02", Reclaim);
        // Tiers the policy does not name, and customers without a tier, are never reclaimed.
        check(Some("B"), "2020-01-01", false, None, "2027-01-01", Kept);
        check(None, "2020-01-01", false, None, "2027-01-01", Kept);
    }

    #[test]
    fn a_fresh_claim_is_protected() {
        let short = PoolPolicy {
            reclaim_after_days: BTreeMap::from([("C".to_string(), 3)]),
            warn_before_days: 1,
            protect_days_after_claim: 7,
            ..PoolPolicy::default()
        };
        let facts = |claimed| ReclaimFacts {
            tier: Some("C"),
            owned_since: at("2027-01-01"),
            claimed,
            last_real_follow_up: None,
        };
        let standing = |claimed, today| {
            reclaim_standing(&short, &facts(claimed), date(today), |time| {
                time.date_naive()
            })
            .0
        };
        assert_eq!(standing(true, "2027-01-05"), ReclaimStanding::Kept);
        assert_eq!(standing(false, "2027-01-05"), ReclaimStanding::Reclaim);
        assert_eq!(standing(true, "2027-01-08"), ReclaimStanding::Reclaim);
    }

    #[test]
    fn claims_are_refused_with_their_numbers() {
        let check = |edit: &dyn Fn(&mut ClaimCheck<'static>), code: Option<&str>, text: &str| {
            let mut facts = ClaimCheck {
                rep_active: true,
                rep_absent: false,
                rep_absent_until: None,
                rep_owned: 5,
                rep_capacity: Some(10),
                tier: Some("B"),
                held_in_tier: 1,
                claims_today: 2,
                last_lost: None,
            };
            edit(&mut facts);
            let refusal = claim_refusal(&policy(), &facts, date("2027-12-01"), |time| {
                time.date_naive()
            });
            assert_eq!(
                refusal.as_ref().map(ClaimRefusal::code),
                code,
                "{refusal:?}"
            );
            if let Some(refusal) = refusal {
                assert!(refusal.message().contains(text), "{}", refusal.message());
            }
        };
        check(&|_| {}, None, "");
        check(
            &|facts| facts.rep_active = false,
            Some("inactive"),
            "inactive",
        );
        check(&|facts| facts.rep_absent = true, Some("absent"), "absent");
        check(
            &|facts| facts.rep_owned = 10,
            Some("holding_cap"),
            "10 of 10",
        );
        check(
            &|facts| facts.held_in_tier = 2,
            Some("holding_cap"),
            "2 of 2 B",
        );
        check(&|facts| facts.tier = Some("A"), None, "");
        check(
            &|facts| facts.claims_today = 3,
            Some("claim_limit"),
            "3 claims today",
        );
        check(
            &|facts| facts.last_lost = Some((at("2027-11-02"), "released by this rep")),
            Some("cooldown"),
            "released by this rep on 11-02, claimable from 12-02",
        );
        check(
            &|facts| facts.last_lost = Some((at("2027-11-01"), "released by this rep")),
            None,
            "",
        );
    }

    #[test]
    fn real_follow_up_and_approval_follow_the_policy() {
        let policy = PoolPolicy {
            transfer_approval: BTreeMap::from([("A".to_string(), TransferApproval::TwoLevels)]),
            ..PoolPolicy::default()
        };
        assert!(policy.is_real_follow_up(InteractionKind::Visit, ""));
        assert!(policy.is_real_follow_up(InteractionKind::Call, "reached"));
        assert!(!policy.is_real_follow_up(InteractionKind::Call, "no_answer"));
        assert!(!policy.is_real_follow_up(InteractionKind::Email, ""));
        assert_eq!(
            policy.approval_for([Some("B"), None]),
            TransferApproval::TeamManager
        );
        assert_eq!(
            policy.approval_for([Some("B"), Some("A")]),
            TransferApproval::TwoLevels
        );
    }
}
