//! The DIMACS minimum-cost-flow text format: reading a network, writing one, and writing a solution as DIMACS or JSON.
//!
//! Input lines (1-based node ids):
//!
//! ```text
//! c a comment (and blank lines) anywhere
//! p min NODES ARCS      once, before any n or a line
//! n ID SUPPLY           positive supplies, negative demands; nodes without a line have 0
//! a FROM TO LOW CAP COST  exactly ARCS of them
//! ```
//!
//! A capacity of `9223372036854775807` (`i64::MAX`, [`UNBOUNDED_CAPACITY`]) means no upper
//! bound; [`write_dimacs`] writes uncapacitated arcs that way so they read back the same.
//! Supplies that do not sum to zero parse (the format allows writing them) and are refused by
//! [`FlowNetwork::solve`].
//!
//! The solution is written as `s COST` and one `f FROM TO FLOW` line per arc with non-zero
//! flow, in arc order; an infeasible or unbounded network gets a `c` line saying so and
//! `s infeasible` or `s unbounded`.

use std::io::{self, BufRead, Write};
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use super::min_cost_flow::{FlowNetwork, FlowSolution, FlowStatus, MAX_NODES, UNBOUNDED_CAPACITY};

/// A problem in a DIMACS file, with the 1-based line it is on (the last line for problems
/// found at the end, such as too few arc lines).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct DimacsError {
    pub line: usize,
    pub message: String,
}

/// Parses a DIMACS minimum-cost-flow problem held in memory. Node id `k` becomes node `k - 1`.
pub fn parse_dimacs(text: &str) -> Result<FlowNetwork, DimacsError> {
    // An arc line takes at least a dozen bytes, so this caps what a lying problem line can
    // make us reserve.
    let mut parser = DimacsParser::new(text.len() / 12 + 1);
    let mut last_line = 0;
    for (index, line) in text.lines().enumerate() {
        last_line = index + 1;
        parser.parse_line(last_line, line)?;
    }
    parser.finish(last_line)
}

/// Parses a DIMACS minimum-cost-flow problem from a reader, a line at a time.
pub fn parse_dimacs_reader(mut reader: impl BufRead) -> Result<FlowNetwork, DimacsError> {
    let mut parser = DimacsParser::new(1 << 20);
    let mut line = String::new();
    let mut last_line = 0;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|error| DimacsError {
            line: last_line + 1,
            message: format!("cannot read the line: {error}"),
        })?;
        if read == 0 {
            break;
        }
        last_line += 1;
        parser.parse_line(last_line, &line)?;
    }
    parser.finish(last_line)
}

struct ProblemLine {
    line: usize,
    node_count: usize,
    arc_count: usize,
}

struct DimacsParser {
    /// The most arcs to reserve room for up front, whatever the problem line says.
    arc_reserve_limit: usize,
    problem: Option<ProblemLine>,
    network: FlowNetwork,
    supply_given: Vec<bool>,
}

/// The most whitespace-separated fields any line kind has, plus one to notice extras.
const MAX_FIELDS: usize = 7;

impl DimacsParser {
    fn new(arc_reserve_limit: usize) -> Self {
        DimacsParser {
            arc_reserve_limit,
            problem: None,
            network: FlowNetwork::new(0),
            supply_given: Vec::new(),
        }
    }

    fn parse_line(&mut self, line_number: usize, line: &str) -> Result<(), DimacsError> {
        let error = |message: String| DimacsError {
            line: line_number,
            message,
        };
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('c') {
            return Ok(());
        }
        // Fields go into a fixed array so a line costs no allocation.
        let mut fields = [""; MAX_FIELDS];
        let mut field_count = 0;
        for field in trimmed.split_ascii_whitespace() {
            if field_count < MAX_FIELDS {
                fields[field_count] = field;
            }
            field_count += 1;
        }
        match fields[0] {
            "p" => self.parse_problem_line(line_number, &fields, field_count),
            "n" => {
                let node_count = self.node_count_for(line_number, "node")?;
                expect_field_count(line_number, "a node line `n ID SUPPLY`", 3, field_count)?;
                let node = parse_node_id(line_number, "node id", fields[1], node_count)?;
                let supply: i64 = parse_integer(line_number, "supply", fields[2])?;
                if self.supply_given[node] {
                    return Err(error(format!("node {} already has a supply", node + 1)));
                }
                self.supply_given[node] = true;
                self.network.set_supply(node, supply);
                Ok(())
            }
            "a" => {
                let node_count = self.node_count_for(line_number, "arc")?;
                expect_field_count(line_number, "an arc line `a FROM TO LOW CAP COST`", 6, field_count)?;
                let from = parse_node_id(line_number, "tail node id", fields[1], node_count)?;
                let to = parse_node_id(line_number, "head node id", fields[2], node_count)?;
                let lower: i64 = parse_integer(line_number, "lower bound", fields[3])?;
                let capacity: i64 = parse_integer(line_number, "capacity", fields[4])?;
                let cost: i64 = parse_integer(line_number, "cost", fields[5])?;
                if lower < 0 {
                    return Err(error(format!("lower bound {lower} is negative")));
                }
                if capacity < 0 {
                    return Err(error(format!("capacity {capacity} is negative")));
                }
                if lower > capacity {
                    return Err(error(format!("lower bound {lower} is above the capacity {capacity}")));
                }
                let declared_arcs = self.problem.as_ref().map_or(0, |problem| problem.arc_count);
                if self.network.arc_count() == declared_arcs {
                    return Err(error(format!(
                        "more arc lines than the {declared_arcs} the problem line declares"
                    )));
                }
                self.network.add_arc(from, to, lower, capacity, cost);
                Ok(())
            }
            other => Err(error(format!(
                "unknown line kind \"{other}\": expected c (comment), p (problem), n (node) or a (arc)"
            ))),
        }
    }

    fn parse_problem_line(
        &mut self,
        line_number: usize,
        fields: &[&str; MAX_FIELDS],
        field_count: usize,
    ) -> Result<(), DimacsError> {
        if let Some(problem) = &self.problem {
            return Err(DimacsError {
                line: line_number,
                message: format!(
                    "a second problem line (the first is on line {})",
                    problem.line
                ),
            });
        }
        expect_field_count(
            line_number,
            "the problem line `p min NODES ARCS`",
            4,
            field_count,
        )?;
        if fields[1] != "min" {
            return Err(DimacsError {
                line: line_number,
                message: format!(
                    "problem type \"{}\" is not supported: expected \"min\"",
                    fields[1]
                ),
            });
        }
        let node_count: usize = parse_integer(line_number, "node count", fields[2])?;
        let arc_count: usize = parse_integer(line_number, "arc count", fields[3])?;
        if node_count > MAX_NODES {
            return Err(DimacsError {
                line: line_number,
                message: format!("node count {node_count} is above the limit {MAX_NODES}"),
            });
        }
        self.network =
            FlowNetwork::with_arc_capacity(node_count, arc_count.min(self.arc_reserve_limit));
        self.supply_given = vec![false; node_count];
        self.problem = Some(ProblemLine {
            line: line_number,
            node_count,
            arc_count,
        });
        Ok(())
    }

    /// The declared node count, or the error for a node or arc line before the problem line.
    fn node_count_for(&self, line_number: usize, kind: &str) -> Result<usize, DimacsError> {
        match &self.problem {
            Some(problem) => Ok(problem.node_count),
            None => Err(DimacsError {
                line: line_number,
                message: format!("{kind} line before the problem line `p min NODES ARCS`"),
            }),
        }
    }

    fn finish(self, last_line: usize) -> Result<FlowNetwork, DimacsError> {
        let line = last_line.max(1);
        let Some(problem) = self.problem else {
            return Err(DimacsError {
                line,
                message: "no problem line `p min NODES ARCS`".to_string(),
            });
        };
        if self.network.arc_count() != problem.arc_count {
            return Err(DimacsError {
                line,
                message: format!(
                    "the problem line declares {} arcs but {} arc lines follow",
                    problem.arc_count,
                    self.network.arc_count()
                ),
            });
        }
        Ok(self.network)
    }
}

fn expect_field_count(
    line_number: usize,
    what: &str,
    expected: usize,
    found: usize,
) -> Result<(), DimacsError> {
    if found == expected {
        return Ok(());
    }
    Err(DimacsError {
        line: line_number,
        message: format!("{what} has {expected} fields, found {found}"),
    })
}

fn parse_integer<T: FromStr>(
    line_number: usize,
    what: &str,
    field: &str,
) -> Result<T, DimacsError> {
    field.parse().map_err(|_| DimacsError {
        line: line_number,
        message: format!("{what} \"{field}\" is not an integer in range"),
    })
}

/// A 1-based node id checked against the node count, as a 0-based index.
fn parse_node_id(
    line_number: usize,
    what: &str,
    field: &str,
    node_count: usize,
) -> Result<usize, DimacsError> {
    let id: usize = parse_integer(line_number, what, field)?;
    if id == 0 || id > node_count {
        return Err(DimacsError {
            line: line_number,
            message: format!("{what} {id} is out of range 1..={node_count}"),
        });
    }
    Ok(id - 1)
}

/// Writes a network in DIMACS form: a comment, the problem line, a node line per non-zero
/// supply and an arc line per arc in insertion order.
pub fn write_dimacs(network: &FlowNetwork, out: &mut impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    writeln!(out, "c minimum-cost flow network written by allot")?;
    if network.arcs().any(|arc| arc.capacity == UNBOUNDED_CAPACITY) {
        writeln!(out, "c capacity {UNBOUNDED_CAPACITY} means no upper bound")?;
    }
    writeln!(
        out,
        "p min {} {}",
        network.node_count(),
        network.arc_count()
    )?;
    for (node, &supply) in network.supplies().iter().enumerate() {
        if supply != 0 {
            writeln!(out, "n {} {supply}", node + 1)?;
        }
    }
    for arc in network.arcs() {
        writeln!(
            out,
            "a {} {} {} {} {}",
            arc.from + 1,
            arc.to + 1,
            arc.lower,
            arc.capacity,
            arc.cost
        )?;
    }
    out.flush()
}

/// Writes a solution in DIMACS form: `s COST` and an `f FROM TO FLOW` line per arc with
/// non-zero flow when optimal; a comment and `s infeasible` or `s unbounded` otherwise.
pub fn write_solution(
    network: &FlowNetwork,
    solution: &FlowSolution,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    match solution.status {
        FlowStatus::Optimal => {
            writeln!(out, "s {}", solution.cost)?;
            for (arc, &flow) in network.arcs().zip(&solution.flows) {
                if flow != 0 {
                    writeln!(out, "f {} {} {flow}", arc.from + 1, arc.to + 1)?;
                }
            }
        }
        FlowStatus::Infeasible => {
            writeln!(out, "c no flow meets every supply within the arc bounds")?;
            writeln!(out, "s infeasible")?;
        }
        FlowStatus::Unbounded => {
            writeln!(
                out,
                "c a negative-cost cycle of uncapacitated arcs lowers the cost without limit"
            )?;
            writeln!(out, "s unbounded")?;
        }
    }
    out.flush()
}

/// The solution as JSON: `{"status": "optimal"|"infeasible"|"unbounded", "cost": COST or
/// null, "flows": [{"from": U, "to": V, "flow": F}, …]}`, one entry per arc with non-zero flow
/// in arc order, 1-based node ids. For millions of flows prefer [`write_solution_json`], which
/// writes the same JSON without building it in memory.
pub fn solution_json(network: &FlowNetwork, solution: &FlowSolution) -> Value {
    // Serialising cannot fail: every key is a string and every number an integer.
    serde_json::to_value(SolutionJson::new(network, solution)).unwrap_or(Value::Null)
}

/// Writes the JSON of [`solution_json`] straight to `out`.
pub fn write_solution_json(
    network: &FlowNetwork,
    solution: &FlowSolution,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    serde_json::to_writer(&mut out, &SolutionJson::new(network, solution))?;
    out.flush()
}

#[derive(Serialize)]
struct SolutionJson {
    status: &'static str,
    cost: Option<i64>,
    flows: Vec<ArcFlowJson>,
}

#[derive(Serialize)]
struct ArcFlowJson {
    from: usize,
    to: usize,
    flow: i64,
}

impl SolutionJson {
    fn new(network: &FlowNetwork, solution: &FlowSolution) -> Self {
        let flows = network
            .arcs()
            .zip(&solution.flows)
            .filter(|(_, &flow)| flow != 0)
            .map(|(arc, &flow)| ArcFlowJson {
                from: arc.from + 1,
                to: arc.to + 1,
                flow,
            })
            .collect();
        SolutionJson {
            status: solution.status.as_str(),
            cost: (solution.status == FlowStatus::Optimal).then_some(solution.cost),
            flows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimise::min_cost_flow::FlowArc;
    use serde_json::json;

    const VALID: &str = "c a small problem\r\n\
        \r\n\
        p min 4 5\r\n\
        c supplies\r\n\
        n 1 4\r\n\
        n 4 -4\r\n\
        a 1 2 0 4 2\r\n\
        a 1 3 0 2 2\r\n\
        a 2 3 0 2 1\r\n\
        a 2 4 1 3 3\r\n\
        a 3 4 0 9223372036854775807 1\r\n";

    fn arc(from: usize, to: usize, lower: i64, capacity: i64, cost: i64) -> FlowArc {
        FlowArc {
            from,
            to,
            lower,
            capacity,
            cost,
        }
    }

    #[test]
    fn parses_a_valid_file() {
        let network = parse_dimacs(VALID).expect("valid");
        assert_eq!(network.supplies(), &[4, 0, 0, -4]);
        let arcs: Vec<FlowArc> = network.arcs().collect();
        assert_eq!(
            arcs,
            vec![
                arc(0, 1, 0, 4, 2),
                arc(0, 2, 0, 2, 2),
                arc(1, 2, 0, 2, 1),
                arc(1, 3, 1, 3, 3),
                arc(2, 3, 0, UNBOUNDED_CAPACITY, 1),
            ]
        );
        let from_reader = parse_dimacs_reader(VALID.as_bytes()).expect("valid");
        assert_eq!(from_reader, network);
        let solution = network.solve().expect("solvable");
        assert_eq!(solution.status, FlowStatus::Optimal);
        assert_eq!(solution.cost, 15);
    }

    /// Parses `text` both ways and expects the same error, as its Display text.
    fn check_error(text: &str, expected: &str) {
        let from_text = parse_dimacs(text).expect_err(expected);
        assert_eq!(from_text.to_string(), expected, "text: {text:?}");
        let from_reader = parse_dimacs_reader(text.as_bytes()).expect_err(expected);
        assert_eq!(from_reader, from_text, "reader: {text:?}");
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("c nothing\n", "line 1: no problem line `p min NODES ARCS`"),
            ("", "line 1: no problem line `p min NODES ARCS`"),
            (
                "p min 2 1\nx 1 2\n",
                "line 2: unknown line kind \"x\": expected c (comment), p (problem), n (node) or a (arc)",
            ),
            ("n 1 5\np min 2 0\n", "line 1: node line before the problem line `p min NODES ARCS`"),
            ("c\na 1 2 0 1 1\n", "line 2: arc line before the problem line `p min NODES ARCS`"),
            ("p min 2 0\np min 2 0\n", "line 2: a second problem line (the first is on line 1)"),
            ("p max 2 0\n", "line 1: problem type \"max\" is not supported: expected \"min\""),
            ("p min 2\n", "line 1: the problem line `p min NODES ARCS` has 4 fields, found 3"),
            ("p min two 0\n", "line 1: node count \"two\" is not an integer in range"),
            ("p min 2 -1\n", "line 1: arc count \"-1\" is not an integer in range"),
            ("p min 2 0\nn 1\n", "line 2: a node line `n ID SUPPLY` has 3 fields, found 2"),
            ("p min 2 0\nn 3 1\n", "line 2: node id 3 is out of range 1..=2"),
            ("p min 2 0\nn 0 1\n", "line 2: node id 0 is out of range 1..=2"),
            ("p min 2 0\nn 1 1.5\n", "line 2: supply \"1.5\" is not an integer in range"),
            ("p min 2 0\nn 1 1\nn 1 2\n", "line 3: node 1 already has a supply"),
            (
                "p min 2 1\na 1 2 0 1\n",
                "line 2: an arc line `a FROM TO LOW CAP COST` has 6 fields, found 5",
            ),
            (
                "p min 2 1\na 1 2 0 1 1 9\n",
                "line 2: an arc line `a FROM TO LOW CAP COST` has 6 fields, found 7",
            ),
            ("p min 2 1\na 1 5 0 1 1\n", "line 2: head node id 5 is out of range 1..=2"),
            ("p min 2 1\na x 2 0 1 1\n", "line 2: tail node id \"x\" is not an integer in range"),
            (
                "p min 2 1\na 1 2 0 99999999999999999999 1\n",
                "line 2: capacity \"99999999999999999999\" is not an integer in range",
            ),
            ("p min 2 1\na 1 2 0 1 c\n", "line 2: cost \"c\" is not an integer in range"),
            ("p min 2 1\na 1 2 3 2 1\n", "line 2: lower bound 3 is above the capacity 2"),
            ("p min 2 1\na 1 2 -1 2 1\n", "line 2: lower bound -1 is negative"),
            ("p min 2 1\na 1 2 0 -2 1\n", "line 2: capacity -2 is negative"),
            (
                "p min 2 1\na 1 2 0 1 1\na 2 1 0 1 1\n",
                "line 3: more arc lines than the 1 the problem line declares",
            ),
            (
                "p min 2 2\na 1 2 0 1 1\nc the end\n",
                "line 3: the problem line declares 2 arcs but 1 arc lines follow",
            ),
        ];
        for (text, expected) in cases {
            check_error(text, expected);
        }
    }

    #[test]
    fn write_then_parse_gives_the_same_network() {
        let mut random = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |bound: u64| {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random % bound
        };
        for _ in 0..50 {
            let node_count = 1 + next(10) as usize;
            let mut network = FlowNetwork::new(node_count);
            for node in 0..node_count {
                network.set_supply(node, next(7) as i64 - 3);
            }
            for _ in 0..next(20) {
                let capacity = if next(5) == 0 {
                    UNBOUNDED_CAPACITY
                } else {
                    next(1000) as i64
                };
                let lower = next(3).min(capacity as u64) as i64;
                network.add_arc(
                    next(node_count as u64) as usize,
                    next(node_count as u64) as usize,
                    lower,
                    capacity,
                    next(2001) as i64 - 1000,
                );
            }
            let mut written = Vec::new();
            write_dimacs(&network, &mut written).expect("write to memory");
            let text = String::from_utf8(written).expect("utf-8");
            assert_eq!(parse_dimacs(&text).expect("round trip"), network, "{text}");
        }
        let mut written = Vec::new();
        write_dimacs(&parse_dimacs(VALID).expect("valid"), &mut written).expect("write");
        assert_eq!(
            String::from_utf8(written).expect("utf-8"),
            "c minimum-cost flow network written by allot\n\
             c capacity 9223372036854775807 means no upper bound\n\
             p min 4 5\n\
             n 1 4\n\
             n 4 -4\n\
             a 1 2 0 4 2\n\
             a 1 3 0 2 2\n\
             a 2 3 0 2 1\n\
             a 2 4 1 3 3\n\
             a 3 4 0 9223372036854775807 1\n"
        );
    }

    fn solution_text(network: &FlowNetwork, solution: &FlowSolution) -> String {
        let mut written = Vec::new();
        write_solution(network, solution, &mut written).expect("write to memory");
        String::from_utf8(written).expect("utf-8")
    }

    fn solved(text: &str) -> (FlowNetwork, FlowSolution) {
        let network = parse_dimacs(text).expect("valid");
        let solution = network.solve().expect("solvable");
        (network, solution)
    }

    #[test]
    fn solution_outputs() {
        let infeasible = "p min 2 1\nn 1 2\nn 2 -2\na 1 2 0 1 5\n";
        let unbounded =
            "p min 2 2\na 1 2 0 9223372036854775807 -1\na 2 1 0 9223372036854775807 0\n";
        let cases: &[(&str, &str, Value)] = &[
            (
                VALID,
                "s 15\nf 1 2 2\nf 1 3 2\nf 2 3 1\nf 2 4 1\nf 3 4 3\n",
                // Two units take 1 → 3 → 4 (cost 3 each); the lower bound on 2 → 4 carries one
                // of the rest (5) and 2 → 3 → 4 the other (4).
                json!({
                    "status": "optimal",
                    "cost": 15,
                    "flows": [
                        {"from": 1, "to": 2, "flow": 2},
                        {"from": 1, "to": 3, "flow": 2},
                        {"from": 2, "to": 3, "flow": 1},
                        {"from": 2, "to": 4, "flow": 1},
                        {"from": 3, "to": 4, "flow": 3},
                    ],
                }),
            ),
            (
                infeasible,
                "c no flow meets every supply within the arc bounds\ns infeasible\n",
                json!({"status": "infeasible", "cost": null, "flows": []}),
            ),
            (
                unbounded,
                "c a negative-cost cycle of uncapacitated arcs lowers the cost without limit\ns unbounded\n",
                json!({"status": "unbounded", "cost": null, "flows": []}),
            ),
        ];
        for (input, expected_text, expected_json) in cases {
            let (network, solution) = solved(input);
            assert_eq!(
                solution_text(&network, &solution),
                *expected_text,
                "{input}"
            );
            assert_eq!(
                solution_json(&network, &solution),
                *expected_json,
                "{input}"
            );
            let mut written = Vec::new();
            write_solution_json(&network, &solution, &mut written).expect("write to memory");
            let streamed: Value = serde_json::from_slice(&written).expect("valid JSON");
            assert_eq!(streamed, *expected_json, "{input}");
        }
    }
}
