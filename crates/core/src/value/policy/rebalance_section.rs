//! The `[rebalance]` section of the policy: the weights of the rebalancing objective and what `tick` does for overloaded reps, checked with the key path of every problem.

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, RawCount, RawPerTier};
use crate::rebalance::{OverloadAction, RebalancePolicy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRebalance {
    move_penalty: RawPerTier<i64>,
    move_penalty_default: RawCount,
    load_band_width: Option<Spanned<f64>>,
    load_band_costs: Option<Spanned<Vec<Spanned<i64>>>>,
    affinity_skill: RawCount,
    affinity_region: RawCount,
    overload_threshold: Option<Spanned<f64>>,
    overload_action: Option<Spanned<String>>,
    overload_candidates: RawCount,
    candidates_per_customer: RawCount,
}

/// Points stay small enough that a million customers' objective fits the solvers' integers.
const MOST_POINTS: u32 = 1_000_000;

impl Checker<'_> {
    /// The `[rebalance]` section; `move_penalty` keys are checked against the tiers.
    pub(super) fn rebalance(
        &mut self,
        raw: Option<RawRebalance>,
        tier_names: &[String],
    ) -> RebalancePolicy {
        let defaults = RebalancePolicy::default();
        let Some(raw) = raw else {
            return defaults;
        };
        let move_penalty = self.per_tier(
            "rebalance.move_penalty",
            raw.move_penalty,
            tier_names,
            |checker, key, value| {
                let points = checker.count(key, &Some(value), u32::MAX, MOST_POINTS);
                (points != u32::MAX).then_some(points)
            },
        );
        let move_penalty_default = self.count(
            "rebalance.move_penalty_default",
            &raw.move_penalty_default,
            defaults.move_penalty_default,
            MOST_POINTS,
        );
        let load_band_width = self.number(
            "rebalance.load_band_width",
            raw.load_band_width.as_ref(),
            defaults.load_band_width,
            0.01,
            10.0,
        );
        let load_band_costs = match raw.load_band_costs {
            None => defaults.load_band_costs,
            Some(list) => {
                let span = list.span();
                let mut costs = Vec::new();
                for cost in list.into_inner() {
                    let points = self.count(
                        "rebalance.load_band_costs",
                        &Some(cost),
                        u32::MAX,
                        MOST_POINTS,
                    );
                    if points != u32::MAX {
                        costs.push(points);
                    }
                }
                if costs.is_empty() || costs.windows(2).any(|pair| pair[1] < pair[0]) {
                    self.push(
                        None,
                        "rebalance.load_band_costs",
                        Some(span),
                        "must be one or more points per unit that never fall from band to band (the load cost must be convex)".to_string(),
                    );
                }
                costs
            }
        };
        let affinity_skill = self.count(
            "rebalance.affinity_skill",
            &raw.affinity_skill,
            defaults.affinity_skill,
            MOST_POINTS,
        );
        let affinity_region = self.count(
            "rebalance.affinity_region",
            &raw.affinity_region,
            defaults.affinity_region,
            MOST_POINTS,
        );
        let overload_threshold = self.number(
            "rebalance.overload_threshold",
            raw.overload_threshold.as_ref(),
            defaults.overload_threshold,
            1.0,
            100.0,
        );
        let overload_action = match raw.overload_action {
            None => defaults.overload_action,
            Some(action) => match action.get_ref().trim() {
                "propose" => OverloadAction::Propose,
                "move" => OverloadAction::Move,
                other => {
                    self.push(
                        None,
                        "rebalance.overload_action",
                        Some(action.span()),
                        format!("'{other}' is not one of propose|move"),
                    );
                    defaults.overload_action
                }
            },
        };
        let overload_candidates = self.count(
            "rebalance.overload_candidates",
            &raw.overload_candidates,
            defaults.overload_candidates,
            100_000,
        );
        let candidates_per_customer = self.count(
            "rebalance.candidates_per_customer",
            &raw.candidates_per_customer,
            defaults.candidates_per_customer,
            1_000,
        );
        RebalancePolicy {
            candidates_per_customer,
            move_penalty,
            move_penalty_default,
            load_band_width,
            load_band_costs,
            affinity_skill,
            affinity_region,
            overload_threshold,
            overload_action,
            overload_candidates,
        }
    }
}
