//! Workload fairness (F1): per-rep load, Gini coefficient, Jain's index and max/mean, per team and overall.

use serde::Serialize;
use std::collections::BTreeSet;

use crate::clock::Clock;
use crate::model::Team;
use crate::routing::team_subtree;
use crate::strategy::RepState;

/// Gini coefficient of non-negative values: 0 is perfect equality, towards 1 is one holder of everything.
/// Zero for an empty list or an all-zero list (nothing to be unfair about).
pub fn gini_coefficient(values: &[f64]) -> f64 {
    let count = values.len();
    let total: f64 = values.iter().sum();
    if count == 0 || total <= 0.0 {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // G = (2 Σ i·x_i) / (n Σ x) − (n + 1) / n with 1-based ranks over ascending values.
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(index, value)| (index as f64 + 1.0) * value)
        .sum();
    let count = count as f64;
    (2.0 * weighted) / (count * total) - (count + 1.0) / count
}

/// Jain's fairness index: (Σx)² / (n Σx²); 1 is perfectly fair, 1/n is one holder of everything.
/// One for an empty or all-zero list.
pub fn jain_index(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    let sum_of_squares: f64 = values.iter().map(|value| value * value).sum();
    if values.is_empty() || sum_of_squares <= 0.0 {
        return 1.0;
    }
    (sum * sum) / (values.len() as f64 * sum_of_squares)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepWorkload {
    pub rep_id: String,
    pub name: String,
    pub team_id: Option<String>,
    pub available: bool,
    pub owned_count: u32,
    pub total_workload: f64,
    pub capacity: Option<u32>,
    /// owned_count / capacity; `None` without a cap.
    pub utilisation: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FairnessSummary {
    /// Reps counted: active and not absent on the clock's date.
    pub available_reps: usize,
    pub total_workload: f64,
    /// `None` without an available rep: there is no spread to measure.
    pub gini: Option<f64>,
    pub jain: Option<f64>,
    pub max_workload: f64,
    pub mean_workload: f64,
    /// max / mean; 1 is perfectly even.
    pub max_over_mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamWorkload {
    pub team_id: String,
    pub name: String,
    /// Over the team and all its sub-teams.
    pub fairness: FairnessSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadReport {
    pub as_of: String,
    pub reps: Vec<RepWorkload>,
    pub teams: Vec<TeamWorkload>,
    pub overall: FairnessSummary,
}

fn summarise<'a>(reps: impl Iterator<Item = &'a RepState>, clock: Clock) -> FairnessSummary {
    let today = clock.today();
    let workloads: Vec<f64> = reps
        .filter(|rep| rep.rep.active && !rep.rep.is_absent_on(today))
        .map(|rep| rep.load.owned_workload)
        .collect();
    // An empty f64 sum is -0.0; adding 0.0 keeps "-0" out of reports.
    let total: f64 = workloads.iter().sum::<f64>() + 0.0;
    let max = workloads.iter().copied().fold(0.0, f64::max);
    let measured = !workloads.is_empty();
    let mean = if workloads.is_empty() {
        0.0
    } else {
        total / workloads.len() as f64
    };
    FairnessSummary {
        available_reps: workloads.len(),
        total_workload: total,
        gini: measured.then(|| gini_coefficient(&workloads)),
        jain: measured.then(|| jain_index(&workloads)),
        max_workload: max,
        mean_workload: mean,
        max_over_mean: measured.then(|| if mean > 0.0 { max / mean } else { 1.0 }),
    }
}

/// Builds the workload report; fairness counts only reps available on the clock's date,
/// since an absent or inactive rep is not expected to carry load.
pub fn workload_report(teams: &[Team], reps: &[RepState], clock: Clock) -> WorkloadReport {
    let today = clock.today();
    let mut rep_rows: Vec<RepWorkload> = reps
        .iter()
        .map(|rep| RepWorkload {
            rep_id: rep.rep.id.to_string(),
            name: rep.rep.name.clone(),
            team_id: rep.rep.team_id.as_ref().map(ToString::to_string),
            available: rep.rep.active && !rep.rep.is_absent_on(today),
            owned_count: rep.load.owned_count,
            total_workload: rep.load.owned_workload,
            capacity: rep.rep.capacity,
            utilisation: rep.rep.capacity.map(|cap| {
                if cap == 0 {
                    1.0
                } else {
                    rep.load.owned_count as f64 / cap as f64
                }
            }),
        })
        .collect();
    rep_rows.sort_by(|left, right| left.rep_id.cmp(&right.rep_id));
    let mut team_rows: Vec<TeamWorkload> = teams
        .iter()
        .map(|team| {
            let subtree: BTreeSet<_> = team_subtree(teams, &team.id);
            let members = reps.iter().filter(|rep| {
                rep.rep
                    .team_id
                    .as_ref()
                    .is_some_and(|team| subtree.contains(team))
            });
            TeamWorkload {
                team_id: team.id.to_string(),
                name: team.name.clone(),
                fairness: summarise(members, clock),
            }
        })
        .collect();
    team_rows.sort_by(|left, right| left.team_id.cmp(&right.team_id));
    WorkloadReport {
        as_of: clock.now().to_rfc3339(),
        reps: rep_rows,
        teams: team_rows,
        overall: summarise(reps.iter(), clock),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[f64], expected_gini: f64, expected_jain: f64) {
        let gini = gini_coefficient(values);
        let jain = jain_index(values);
        assert!(
            (gini - expected_gini).abs() < 1e-9,
            "gini {values:?}: {gini} != {expected_gini}"
        );
        assert!(
            (jain - expected_jain).abs() < 1e-9,
            "jain {values:?}: {jain} != {expected_jain}"
        );
    }

    #[test]
    fn fairness_metrics_match_hand_computed_values() {
        check(&[], 0.0, 1.0);
        check(&[0.0, 0.0], 0.0, 1.0);
        check(&[5.0, 5.0, 5.0, 5.0], 0.0, 1.0);
        // One holder of everything among four: Gini (n-1)/n, Jain 1/n.
        check(&[0.0, 0.0, 0.0, 8.0], 0.75, 0.25);
        // 1,2,3,4: Gini = 2*(1+4+9+16)/(4*10) - 5/4 = 0.25; Jain = 100/(4*30).
        check(&[4.0, 1.0, 3.0, 2.0], 0.25, 100.0 / 120.0);
    }

    #[test]
    fn teams_count_their_sub_teams_and_only_available_reps() {
        use crate::model::{Level, Rep, Role};
        use crate::strategy::RepLoad;
        use crate::{RepId, TeamId};
        let team = |id: &str, parent: Option<&str>| Team {
            id: TeamId::parse(id).unwrap(),
            name: id.to_string(),
            parent_id: parent.map(|parent| TeamId::parse(parent).unwrap()),
            manager_id: None,
        };
        let rep = |id: &str, team: &str, workload: f64, active: bool| RepState {
            rep: Rep {
                id: RepId::parse(id).unwrap(),
                name: id.to_string(),
                email: String::new(),
                team_id: Some(TeamId::parse(team).unwrap()),
                role: Role::Rep,
                level: Level::Mid,
                capacity: Some(10),
                weight: 1.0,
                skills: vec![],
                active,
                absent_from: None,
                absent_until: None,
            },
            load: RepLoad {
                owned_count: workload as u32,
                owned_workload: workload,
                ..RepLoad::default()
            },
        };
        let teams = [
            team("hq", None),
            team("east", Some("hq")),
            team("east-ka", Some("east")),
        ];
        let reps = [
            rep("r1", "hq", 2.0, true),
            rep("r2", "east", 4.0, true),
            rep("r3", "east-ka", 6.0, true),
            // Inactive: listed with its load, left out of every fairness measure.
            rep("r4", "east-ka", 100.0, false),
        ];
        let report = workload_report(&teams, &reps, Clock::parse("2026-11-25T09:00:00Z").unwrap());
        let fairness_of = |id: &str| {
            &report
                .teams
                .iter()
                .find(|team| team.team_id == id)
                .unwrap()
                .fairness
        };
        // east = east + east-ka: workloads 4 and 6 among available reps.
        let east = fairness_of("east");
        assert_eq!(east.available_reps, 2);
        assert_eq!(east.total_workload, 10.0);
        assert_eq!(east.max_over_mean, Some(6.0 / 5.0));
        // hq = everyone available: 2, 4, 6; Gini = 2(2 + 8 + 18) / (3 × 12) − 4/3 = 2/9.
        let hq = fairness_of("hq");
        assert_eq!(hq.available_reps, 3);
        assert!((hq.gini.unwrap() - 2.0 / 9.0).abs() < 1e-12, "{hq:?}");
        assert!(
            (hq.jain.unwrap() - 144.0 / (3.0 * 56.0)).abs() < 1e-12,
            "{hq:?}"
        );
        assert_eq!(report.overall, *hq);
        let r4 = report.reps.iter().find(|rep| rep.rep_id == "r4").unwrap();
        assert!(!r4.available);
        assert_eq!(r4.utilisation, Some(10.0));
    }
}
