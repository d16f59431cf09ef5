//! Which of a rule's candidates can take a customer, kept up to date as routing assigns, so a decision costs far less than a scan of the candidate list.
//!
//! Per rule and per date, the engine keeps each candidate's standing (active, present, senior
//! enough: fixed for the day), the candidates that cannot take customers (out of standing, or
//! at their holding cap: a list that only grows while an engine routes, since its loads only
//! grow), and for least-loaded rules a tournament tree whose root is the least-loaded
//! available candidate. Assigning a customer updates the trees of the rules the rep belongs
//! to, in O(log candidates) each.

use chrono::NaiveDate;

use crate::strategy::{check_holding, compare_load, LoadKey, Unavailability};
use std::cmp::Ordering;

/// The loads the trees compare, by rep position (reps sorted by id).
#[derive(Clone, Copy)]
pub(super) struct Loads<'a> {
    pub keys: &'a [LoadKey],
    pub holdings: &'a [(u32, u32)],
}

/// One rule's candidates as of one date.
#[derive(Debug, Clone)]
pub(super) struct RuleAvailability {
    pub date: NaiveDate,
    /// Per candidate (in candidate order): active, present and senior enough, or why not.
    pub standings: Vec<Result<(), Unavailability>>,
    /// Candidates out of standing, ascending.
    out_of_standing: Vec<u32>,
    /// Candidates in standing but at their holding cap, ascending.
    at_cap: Vec<u32>,
    /// Per candidate: can take a customer now (in standing and below the cap). Kept rather
    /// than recomputed because the trees ask for it on every comparison.
    open: Vec<bool>,
    /// For least-loaded rules: the tournament over the candidates.
    tournament: Option<Tournament>,
}

/// No candidate, in a tree node.
const NOBODY: u32 = u32::MAX;

/// A tournament (winner) tree: leaf `i` is candidate `i`; each inner node holds the better
/// of its children, available candidates beating unavailable ones, then least loaded first.
#[derive(Debug, Clone)]
struct Tournament {
    leaves: usize,
    nodes: Vec<u32>,
}

impl RuleAvailability {
    pub fn new(
        date: NaiveDate,
        standings: Vec<Result<(), Unavailability>>,
        candidates: &[usize],
        loads: Loads<'_>,
        least_loaded: bool,
    ) -> Self {
        let mut availability = RuleAvailability {
            date,
            out_of_standing: (0..standings.len() as u32)
                .filter(|&index| standings[index as usize].is_err())
                .collect(),
            at_cap: (0..standings.len() as u32)
                .filter(|&index| {
                    standings[index as usize].is_ok()
                        && check_holding(loads.holdings[candidates[index as usize]]).is_err()
                })
                .collect(),
            open: Vec::new(),
            standings,
            tournament: None,
        };
        availability.open = (0..candidates.len())
            .map(|index| {
                availability.standings[index].is_ok()
                    && check_holding(loads.holdings[candidates[index]]).is_ok()
            })
            .collect();
        if least_loaded {
            let leaves = candidates.len().next_power_of_two().max(1);
            let mut nodes = vec![NOBODY; 2 * leaves];
            for index in 0..candidates.len() {
                nodes[leaves + index] = index as u32;
            }
            let mut tournament = Tournament { leaves, nodes };
            for node in (1..leaves).rev() {
                tournament.nodes[node] = availability.better(
                    tournament.nodes[2 * node],
                    tournament.nodes[2 * node + 1],
                    candidates,
                    loads,
                );
            }
            availability.tournament = Some(tournament);
        }
        availability
    }

    fn available(&self, index: u32) -> bool {
        self.open[index as usize]
    }

    fn better(&self, left: u32, right: u32, candidates: &[usize], loads: Loads<'_>) -> u32 {
        if left == NOBODY {
            return right;
        }
        if right == NOBODY {
            return left;
        }
        match (self.available(left), self.available(right)) {
            (true, false) => left,
            (false, true) => right,
            _ => {
                let order = compare_load(
                    loads.keys,
                    candidates[left as usize],
                    candidates[right as usize],
                );
                if order == Ordering::Greater {
                    right
                } else {
                    left
                }
            }
        }
    }

    /// Whether candidate `index` can take a customer now.
    pub fn is_available(&self, index: usize) -> bool {
        self.available(index as u32)
    }

    /// The least-loaded available candidate (least-loaded rules only).
    pub fn least_loaded(&self) -> Option<usize> {
        let winner = self.tournament.as_ref()?.nodes[1];
        (winner != NOBODY && self.available(winner)).then_some(winner as usize)
    }

    /// After candidate `index`'s rep took a customer (its load, maybe its cap, changed).
    pub fn rep_assigned(&mut self, index: usize, candidates: &[usize], loads: Loads<'_>) {
        let index = index as u32;
        if self.standings[index as usize].is_ok()
            && check_holding(loads.holdings[candidates[index as usize]]).is_err()
        {
            self.open[index as usize] = false;
            if let Err(slot) = self.at_cap.binary_search(&index) {
                self.at_cap.insert(slot, index);
            }
        }
        let Some(mut tournament) = self.tournament.take() else {
            return;
        };
        let mut node = (tournament.leaves + index as usize) / 2;
        while node >= 1 {
            tournament.nodes[node] = self.better(
                tournament.nodes[2 * node],
                tournament.nodes[2 * node + 1],
                candidates,
                loads,
            );
            node /= 2;
        }
        self.tournament = Some(tournament);
    }

    /// Every candidate that cannot take a customer, ascending, with why.
    pub fn unavailable(&self) -> impl Iterator<Item = (usize, Unavailability)> + '_ {
        let mut out_of_standing = self.out_of_standing.iter().peekable();
        let mut at_cap = self.at_cap.iter().peekable();
        std::iter::from_fn(move || {
            let take_standing = match (out_of_standing.peek(), at_cap.peek()) {
                (Some(standing), Some(cap)) => standing < cap,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            if take_standing {
                let index = *out_of_standing.next()? as usize;
                let why = self.standings[index].expect_err("listed as out of standing");
                Some((index, why))
            } else {
                let index = *at_cap.next()? as usize;
                Some((index, Unavailability::AtHoldingCap))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reps at positions 0..reps, some out of standing, with caps; candidates a subset.
    /// After every assignment the tree's answer must equal a scan of all candidates.
    fn check(reps: usize, candidates: Vec<usize>, caps: &[u32], assignments: usize, seed: u64) {
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).expect("valid date");
        let mut keys: Vec<LoadKey> = (0..reps).map(|rep| ((rep % 3) as f64, 0)).collect();
        let mut holdings: Vec<(u32, u32)> =
            (0..reps).map(|rep| (0, caps[rep % caps.len()])).collect();
        let standings: Vec<Result<(), Unavailability>> = candidates
            .iter()
            .map(|&rep| {
                if rep % 7 == 3 {
                    Err(Unavailability::Absent)
                } else {
                    Ok(())
                }
            })
            .collect();
        let mut availability = RuleAvailability::new(
            date,
            standings.clone(),
            &candidates,
            Loads {
                keys: &keys,
                holdings: &holdings,
            },
            true,
        );
        let mut random = seed;
        for sequence in 1..=assignments as u64 {
            let scan_available = |index: usize| {
                standings[index].is_ok() && check_holding(holdings[candidates[index]]).is_ok()
            };
            let scanned = (0..candidates.len())
                .filter(|&index| scan_available(index))
                .min_by(|&left, &right| compare_load(&keys, candidates[left], candidates[right]));
            assert_eq!(
                availability.least_loaded(),
                scanned,
                "after {sequence} assignments"
            );
            let scanned_unavailable: Vec<usize> = (0..candidates.len())
                .filter(|&index| !scan_available(index))
                .collect();
            let listed: Vec<usize> = availability.unavailable().map(|(index, _)| index).collect();
            assert_eq!(listed, scanned_unavailable, "after {sequence} assignments");
            // Mostly the least loaded takes the customer, as routing does; sometimes another
            // candidate (first touch, sticky, other rules sharing the rep).
            random = random
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let index = match scanned {
                Some(index) if !random.is_multiple_of(4) => index,
                _ => (random >> 33) as usize % candidates.len(),
            };
            let rep = candidates[index];
            keys[rep] = (keys[rep].0 + 1.0 + (random % 3) as f64, sequence);
            holdings[rep].0 += 1;
            availability.rep_assigned(
                index,
                &candidates,
                Loads {
                    keys: &keys,
                    holdings: &holdings,
                },
            );
        }
    }

    #[test]
    fn the_tree_agrees_with_a_scan_of_every_candidate() {
        check(1, vec![0], &[u32::MAX], 5, 1);
        check(5, vec![0, 1, 2, 3, 4], &[2, 3, u32::MAX], 20, 2);
        check(40, (0..40).step_by(3).collect(), &[5, 8, 13], 200, 3);
        check(300, (0..300).collect(), &[u32::MAX, 4, 40], 2_000, 4);
        check(7, vec![3], &[1], 3, 5);
    }
}
