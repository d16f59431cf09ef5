//! Commands of the optimiser: `mcf solve` (a DIMACS min-cost-flow file, so any other solver can
//! be held against Allot's on the same file) and `mcf generate` (the seeded customer → rep
//! assignment networks the benchmarks use).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use allot_core::optimise::{
    assignment_instance, parse_dimacs_reader, solution_json, write_dimacs, write_solution,
    FlowStatus,
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
