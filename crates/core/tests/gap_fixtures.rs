//! The GAP solver on small instances of types C, D and E (written by `bench/gap_generate.py`)
//! whose optima were proven by enumerating every assignment; the enumeration is repeated here.

use allot_core::optimise::{parse_gap, solve_gap, GapInstance, GapSettings, GapStatus};

/// The least cost over every assignment that fits, by depth-first enumeration.
fn enumerated_optimum(instance: &GapInstance) -> Option<i64> {
    fn walk(
        instance: &GapInstance,
        item: usize,
        loads: &mut [i64],
        cost: i64,
        best: &mut Option<i64>,
    ) {
        if item == instance.item_count() {
            if best.is_none_or(|known| cost < known) {
                *best = Some(cost);
            }
            return;
        }
        for option in instance.options(item) {
            if loads[option.agent] + option.weight <= instance.capacity(option.agent) {
                loads[option.agent] += option.weight;
                walk(instance, item + 1, loads, cost + option.cost, best);
                loads[option.agent] -= option.weight;
            }
        }
    }
    let mut best = None;
    walk(
        instance,
        0,
        &mut vec![0; instance.agent_count()],
        0,
        &mut best,
    );
    best
}

fn check(file: &str, text: &str, proven: i64) {
    let instances = parse_gap(text).unwrap_or_else(|error| panic!("{file}: {error}"));
    let instance = &instances[0];
    assert_eq!(
        enumerated_optimum(instance),
        Some(proven),
        "{file}: the recorded optimum"
    );
    let solution = solve_gap(instance, &GapSettings::default()).unwrap();
    assert_eq!(solution.status, GapStatus::Feasible, "{file}");
    assert_eq!(solution.cost, Some(proven), "{file}: not optimal");
    let assignment = solution.assignment.as_ref().unwrap();
    assert_eq!(instance.evaluate(assignment), Ok(proven), "{file}");
    assert!(
        solution.bound <= proven,
        "{file}: bound {} above the optimum",
        solution.bound
    );
}

#[test]
fn small_c_d_and_e_instances_are_solved_to_their_proven_optima() {
    let cases = [
        (
            "c-3x12-seed1.txt",
            include_str!("fixtures/gap/c-3x12-seed1.txt"),
            276,
        ),
        (
            "d-3x12-seed1.txt",
            include_str!("fixtures/gap/d-3x12-seed1.txt"),
            840,
        ),
        (
            "e-3x12-seed1.txt",
            include_str!("fixtures/gap/e-3x12-seed1.txt"),
            1419,
        ),
    ];
    for (file, text, proven) in cases {
        check(file, text, proven);
    }
}
