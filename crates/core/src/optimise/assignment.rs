//! A seeded customer → rep assignment network, the shape of a rebalancing run, for tests and benchmarks.
//!
//! Nodes, in order: customers `0..customers` (supply 1 each), reps
//! `customers..customers + reps`, and one sink (demand `-customers`).
//!
//! - Each customer has arcs (capacity 1) to `candidates_per_customer` distinct reps (at most
//!   `reps`): first its current owner at cost 0, then others at a move cost of 10..=100. A
//!   quarter of the owners are drawn from the first tenth of the reps, so some reps start
//!   overloaded and the optimum has to move customers.
//! - Each rep reaches the sink through parallel load bands that make load cost convex: the mean
//!   load (`ceil(customers / reps)`) free, then six bands of a tenth of the mean each at 5, 10,
//!   20, 40, 80 and 160 per customer, and a last band wide enough for every customer at 1000,
//!   so the network is always feasible when there is at least one candidate.

use super::min_cost_flow::FlowNetwork;
use crate::demo::SplitMix64;

/// Cost per customer of each band above the mean load.
const OVERLOAD_BAND_COSTS: [i64; 6] = [5, 10, 20, 40, 80, 160];
/// Cost per customer of the last, unlimited-in-practice band.
const LAST_BAND_COST: i64 = 1000;
const MOVE_COST_MIN: i64 = 10;
const MOVE_COST_MAX: i64 = 100;

/// Builds the assignment network described in the module documentation; the same arguments
/// always give the same network.
pub fn assignment_instance(
    customers: usize,
    candidates_per_customer: usize,
    reps: usize,
    seed: u64,
) -> FlowNetwork {
    let candidates = candidates_per_customer.min(reps);
    let bands_per_rep = OVERLOAD_BAND_COSTS.len() + 2;
    let sink = customers + reps;
    let mut network =
        FlowNetwork::with_arc_capacity(sink + 1, customers * candidates + reps * bands_per_rep);
    let mut random = SplitMix64(seed);
    let popular_reps = (reps / 10).max(1);
    let mut chosen = Vec::with_capacity(candidates);
    for customer in 0..customers {
        network.set_supply(customer, 1);
        if candidates == 0 {
            continue;
        }
        chosen.clear();
        let owner = if random.below(4) == 0 {
            random.below(popular_reps)
        } else {
            random.below(reps)
        };
        chosen.push(owner);
        network.add_arc(customer, customers + owner, 0, 1, 0);
        while chosen.len() < candidates {
            let rep = random.below(reps);
            if chosen.contains(&rep) {
                continue;
            }
            chosen.push(rep);
            let move_cost =
                MOVE_COST_MIN + random.below((MOVE_COST_MAX - MOVE_COST_MIN + 1) as usize) as i64;
            network.add_arc(customer, customers + rep, 0, 1, move_cost);
        }
    }
    if reps > 0 {
        let customer_total = customers as i64;
        let mean_load = customers.div_ceil(reps).max(1) as i64;
        let band_width = (mean_load / 10).max(1);
        for rep in customers..sink {
            network.add_arc(rep, sink, 0, mean_load, 0);
            for band_cost in OVERLOAD_BAND_COSTS {
                network.add_arc(rep, sink, 0, band_width, band_cost);
            }
            network.add_arc(rep, sink, 0, customer_total, LAST_BAND_COST);
        }
    }
    network.set_supply(sink, -(customers as i64));
    network
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimise::min_cost_flow::{certify_optimal, FlowStatus};

    /// Builds and solves an instance; checks its shape, the certificate, and that every
    /// customer is assigned to exactly one of its candidates.
    fn check(customers: usize, candidates: usize, reps: usize, seed: u64) {
        let name = format!("assignment_instance({customers}, {candidates}, {reps}, {seed})");
        let network = assignment_instance(customers, candidates, reps, seed);
        let per_customer = candidates.min(reps);
        assert_eq!(network.node_count(), customers + reps + 1, "{name}: nodes");
        assert_eq!(
            network.arc_count(),
            customers * per_customer + reps * 8,
            "{name}: arcs"
        );
        assert_eq!(
            network,
            assignment_instance(customers, candidates, reps, seed),
            "{name}: not deterministic"
        );

        let arcs: Vec<_> = network.arcs().collect();
        for customer in 0..customers {
            let own = &arcs[customer * per_customer..(customer + 1) * per_customer];
            assert_eq!(own[0].cost, 0, "{name}: the owner's arc is free");
            let mut reps_seen: Vec<usize> = own.iter().map(|arc| arc.to).collect();
            reps_seen.sort_unstable();
            reps_seen.dedup();
            assert_eq!(
                reps_seen.len(),
                per_customer,
                "{name}: customer {customer} has repeated candidates"
            );
            assert!(
                own.iter()
                    .all(|arc| arc.from == customer
                        && (customers..customers + reps).contains(&arc.to))
            );
            assert!(own[1..]
                .iter()
                .all(|arc| (MOVE_COST_MIN..=MOVE_COST_MAX).contains(&arc.cost)));
        }

        let solution = network
            .solve()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(solution.status, FlowStatus::Optimal, "{name}");
        if let Err(problem) = certify_optimal(&network, &solution) {
            panic!("{name}: {problem}");
        }
        for customer in 0..customers {
            let assigned: i64 = solution.flows
                [customer * per_customer..(customer + 1) * per_customer]
                .iter()
                .sum();
            assert_eq!(assigned, 1, "{name}: customer {customer}");
        }
    }

    #[test]
    fn small_instances_solve_with_every_customer_assigned() {
        for (customers, candidates, reps, seed) in [
            (1, 1, 1, 0),
            (50, 3, 5, 1),
            (200, 4, 10, 7),
            (300, 8, 4, 9),
            (3000, 8, 30, 1),
        ] {
            check(customers, candidates, reps, seed);
        }
    }

    #[test]
    fn skewed_owners_are_moved_towards_the_mean() {
        let (customers, reps) = (2000, 20);
        let network = assignment_instance(customers, 6, reps, 3);
        let solution = network.solve().expect("solvable");
        let arcs: Vec<_> = network.arcs().collect();
        let load = |use_flow: bool| -> Vec<i64> {
            let mut load = vec![0i64; reps];
            for (index, arc) in arcs
                .iter()
                .enumerate()
                .filter(|(_, arc)| arc.from < customers)
            {
                let carried = if use_flow {
                    solution.flows[index]
                } else {
                    i64::from(arc.cost == 0)
                };
                load[arc.to - customers] += carried;
            }
            load
        };
        let (before, after) = (load(false), load(true));
        let (most_before, most_after) = (before.iter().max(), after.iter().max());
        assert!(
            most_after < most_before,
            "busiest rep: {most_before:?} before, {most_after:?} after"
        );
        assert_ne!(before, after);
    }

    #[test]
    fn nothing_to_assign_to() {
        let network = assignment_instance(5, 3, 0, 1);
        assert_eq!(network.arc_count(), 0);
        let solution = network.solve().expect("solvable");
        assert_eq!(solution.status, FlowStatus::Infeasible);
        assert_eq!(
            assignment_instance(0, 3, 4, 1)
                .solve()
                .map(|solution| solution.status),
            Ok(FlowStatus::Optimal)
        );
    }
}
