//! Commands of the optimiser: `mcf solve` (a DIMACS min-cost-flow file, so any other solver can
//! be held against Allot's on the same file) and `mcf generate` (the seeded customer → rep
//! assignment networks the benchmarks use), and `gap solve` (OR-Library generalised
//! assignment files).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use allot_core::optimise::{
    assignment_instance, gap_solution_json, parse_dimacs_reader, parse_gap, solution_json,
    solve_gap, write_dimacs, write_solution, FlowStatus, GapSettings, GapStatus,
};

/// `allot mcf solve FILE [--json]`: the optimal cost and flows, or why there are none (then
/// the exit status is non-zero). The time to read and to solve goes to standard error.
pub fn solve(file: &Path, json: bool) -> Result<()> {
    let started = Instant::now();
    let reader = BufReader::with_capacity(
        1 << 20,
        File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let network = parse_dimacs_reader(reader)
        .map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))?;
    let read = started.elapsed();
    let solving = Instant::now();
    let solution = network
        .solve()
        .with_context(|| format!("{} cannot be solved", file.display()))?;
    let solved = solving.elapsed();
    eprintln!(
        "c {} nodes, {} arcs: read in {:.3} s, solved in {:.3} s",
        network.node_count(),
        network.arc_count(),
        read.as_secs_f64(),
        solved.as_secs_f64()
    );
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if json {
        serde_json::to_writer(&mut out, &solution_json(&network, &solution))?;
        writeln!(out)?;
    } else {
        write_solution(&network, &solution, &mut out)?;
    }
    out.flush()?;
    match solution.status {
        FlowStatus::Optimal => Ok(()),
        FlowStatus::Infeasible => bail!(
            "{}: infeasible: no flow meets every supply within the arc bounds",
            file.display()
        ),
        FlowStatus::Unbounded => bail!(
            "{}: unbounded: a negative-cost cycle of uncapacitated arcs lowers the cost without limit",
            file.display()
        ),
    }
}

/// `allot mcf generate`: a customer → rep assignment network in DIMACS form on standard output.
pub fn generate(customers: usize, candidates: usize, reps: usize, seed: u64) -> Result<()> {
    if customers == 0 || candidates == 0 || reps == 0 {
        bail!("--customers, --candidates and --reps must each be at least 1");
    }
    let network = assignment_instance(customers, candidates, reps, seed);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    writeln!(
        out,
        "c allot mcf generate --customers {customers} --candidates {candidates} --reps {reps} --seed {seed}"
    )?;
    write_dimacs(&network, &mut out)?;
    out.flush()?;
    Ok(())
}

/// `allot gap solve FILE [--json]`: per instance the cost, the bound and their gap, and with
/// `--json` the assignment. Non-zero exit when an instance has no feasible assignment found.
pub fn gap_solve(file: &Path, json: bool, effort: u64, seed: u64) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let instances =
        parse_gap(&text).map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))?;
    let settings = GapSettings {
        search_evaluations: effort,
        seed,
        ..GapSettings::default()
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut unsolved = Vec::new();
    for (index, instance) in instances.iter().enumerate() {
        let started = Instant::now();
        let solution = solve_gap(instance, &settings)
            .with_context(|| format!("{}: instance {}", file.display(), index + 1))?;
        eprintln!(
            "c instance {}: {} agents, {} items, solved in {:.3} s",
            index + 1,
            instance.agent_count(),
            instance.item_count(),
            started.elapsed().as_secs_f64()
        );
        if json {
            serde_json::to_writer(&mut out, &gap_solution_json(&solution))?;
            writeln!(out)?;
        } else {
            match solution.cost {
                Some(cost) => writeln!(
                    out,
                    "instance {}: cost {cost} bound {} gap {:.4}%",
                    index + 1,
                    solution.bound,
                    solution.relative_gap().unwrap_or(0.0) * 100.0
                )?,
                None => writeln!(
                    out,
                    "instance {}: {} bound {}",
                    index + 1,
                    solution.status.as_str(),
                    solution.bound
                )?,
            }
        }
        if solution.status != GapStatus::Feasible {
            unsolved.push(format!("{} ({})", index + 1, solution.status.as_str()));
        }
    }
    out.flush()?;
    if !unsolved.is_empty() {
        bail!(
            "{}: no feasible assignment for instance {}",
            file.display(),
            unsolved.join(", ")
        );
    }
    Ok(())
}
