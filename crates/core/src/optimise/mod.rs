//! Exact network optimisation: a minimum-cost-flow solver, the DIMACS format and a seeded assignment network.
//!
//! `min_cost_flow` holds the network, the network-simplex solver and the optimality
//! certificate; `dimacs` reads and writes networks and solutions in the DIMACS text format (and
//! solutions as JSON); `gap` solves generalised assignment problems with a bound, and
//! `gap_format` reads the OR-Library's files of them; `assignment` builds customer → rep rebalancing networks for tests and
//! benchmarks.

pub mod assignment;
pub mod dimacs;
pub mod gap;
pub mod gap_format;
pub mod min_cost_flow;

pub use assignment::assignment_instance;
pub use dimacs::{
    parse_dimacs, parse_dimacs_reader, solution_json, write_dimacs, write_solution,
    write_solution_json, DimacsError,
};
pub use gap::{solve_gap, GapError, GapInstance, GapOption, GapSettings, GapSolution, GapStatus};
pub use gap_format::{gap_solution_json, parse_gap, GapFormatError};
pub use min_cost_flow::{
    certify_optimal, ArcId, FlowArc, FlowError, FlowNetwork, FlowSolution, FlowStatus,
    UNBOUNDED_CAPACITY,
};
