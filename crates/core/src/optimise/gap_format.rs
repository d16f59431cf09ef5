//! The OR-Library text format of generalised assignment instances (`m n`, costs, weights, capacities), and answers as JSON.
//!
//! One instance is `m n`, then the `m × n` cost matrix (agent by agent), the `m × n` weight
//! matrix, then the `m` capacities, all whitespace-separated integers over any number of lines.
//! The OR-Library collections (`gapa.txt` … `gapd.txt`, `gap1.txt` …) start with the number
//! of instances and hold them one after another; a file whose first line holds a single number
//! is read as such a collection. Errors name the line of the offending token.

use serde_json::{json, Value};
use thiserror::Error;

use super::gap::{GapError, GapInstance, GapSolution};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct GapFormatError {
    pub line: usize,
    pub message: String,
}

/// Whitespace-separated integers with the line each came from.
struct Tokens<'a> {
    tokens: Vec<(usize, &'a str)>,
    position: usize,
    last_line: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Tokens<'a> {
        let tokens: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .flat_map(|(index, line)| line.split_whitespace().map(move |token| (index + 1, token)))
            .collect();
        let last_line = text.lines().count().max(1);
        Tokens {
            tokens,
            position: 0,
            last_line,
        }
    }

    fn next(&mut self, what: &str) -> Result<(usize, i64), GapFormatError> {
        let Some(&(line, token)) = self.tokens.get(self.position) else {
            return Err(GapFormatError {
                line: self.last_line,
                message: format!("the file ends where {what} was expected"),
            });
        };
        self.position += 1;
        let value = token.parse::<i64>().map_err(|_| GapFormatError {
            line,
            message: format!("{what} must be a whole number, found `{token}`"),
        })?;
        Ok((line, value))
    }

    fn count(&mut self, what: &str) -> Result<usize, GapFormatError> {
        let (line, value) = self.next(what)?;
        if value < 0 || value > u32::MAX as i64 {
            return Err(GapFormatError {
                line,
                message: format!("{what} must be between 0 and {}, found {value}", u32::MAX),
            });
        }
        Ok(value as usize)
    }

    fn non_negative(&mut self, what: &str) -> Result<i64, GapFormatError> {
        let (line, value) = self.next(what)?;
        if value < 0 {
            return Err(GapFormatError {
                line,
                message: format!("{what} must not be negative, found {value}"),
            });
        }
        Ok(value)
    }
}

/// Reads one instance, or every instance of an OR-Library collection.
pub fn parse_gap(text: &str) -> Result<Vec<GapInstance>, GapFormatError> {
    let first_line_tokens = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .map_or(0, |line| line.split_whitespace().count());
    let mut tokens = Tokens::new(text);
    let instance_count = if first_line_tokens == 1 {
        tokens.count("the number of instances")?
    } else {
        1
    };
    let mut instances = Vec::with_capacity(instance_count.min(1024));
    for _ in 0..instance_count {
        instances.push(parse_instance(&mut tokens)?);
    }
    if let Some(&(line, token)) = tokens.tokens.get(tokens.position) {
        return Err(GapFormatError {
            line,
            message: format!("`{token}` follows the last instance"),
        });
    }
    Ok(instances)
}

fn parse_instance(tokens: &mut Tokens<'_>) -> Result<GapInstance, GapFormatError> {
    let header_line = tokens
        .tokens
        .get(tokens.position)
        .map_or(tokens.last_line, |token| token.0);
    let agents = tokens.count("the number of agents m")?;
    let items = tokens.count("the number of items n")?;
    let cells = agents.checked_mul(items).filter(|cells| *cells <= 1 << 28);
    let Some(cells) = cells else {
        return Err(GapFormatError {
            line: header_line,
            message: format!("{agents} agents × {items} items is too large"),
        });
    };
    let mut costs = Vec::with_capacity(cells);
    for agent in 0..agents {
        for item in 0..items {
            costs.push(
                tokens
                    .next(&format!(
                        "the cost of agent {} for item {}",
                        agent + 1,
                        item + 1
                    ))?
                    .1,
            );
        }
    }
    let mut weights = Vec::with_capacity(cells);
    for agent in 0..agents {
        for item in 0..items {
            weights.push(tokens.non_negative(&format!(
                "the weight of item {} at agent {}",
                item + 1,
                agent + 1
            ))?);
        }
    }
    let mut capacities = Vec::with_capacity(agents);
    for agent in 0..agents {
        capacities.push(tokens.non_negative(&format!("the capacity of agent {}", agent + 1))?);
    }
    let costs: Vec<Vec<i64>> = costs.chunks(items.max(1)).map(<[i64]>::to_vec).collect();
    let weights: Vec<Vec<i64>> = weights.chunks(items.max(1)).map(<[i64]>::to_vec).collect();
    GapInstance::dense(&costs, &weights, capacities).map_err(|error: GapError| GapFormatError {
        line: header_line,
        message: error.to_string(),
    })
}

/// `{"status", "cost", "bound", "gap", "assignment"}`: the agent of every item, 0-based.
pub fn gap_solution_json(solution: &GapSolution) -> Value {
    json!({
        "status": solution.status.as_str(),
        "cost": solution.cost,
        "bound": solution.bound,
        "gap": solution.relative_gap(),
        "assignment": solution.assignment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_error(text: &str, line: usize, words: &str) {
        let error = parse_gap(text).unwrap_err();
        assert_eq!(error.line, line, "{text:?}: {error}");
        assert!(error.message.contains(words), "{text:?}: {error}");
    }

    #[test]
    fn one_instance_and_a_collection_read_alike() {
        let one = "2 3\n1 2 3\n4 5 6\n1 1 1\n2 2 2\n5 5\n";
        let instances = parse_gap(one).unwrap();
        assert_eq!(instances.len(), 1);
        let instance = &instances[0];
        assert_eq!((instance.agent_count(), instance.item_count()), (2, 3));
        assert_eq!(instance.capacity(1), 5);
        assert_eq!(instance.evaluate(&[0, 0, 1]), Ok(1 + 2 + 6));
        let collection = format!("2\n{one}{one}");
        assert_eq!(
            parse_gap(&collection).unwrap(),
            vec![instance.clone(), instance.clone()]
        );
    }

    #[test]
    fn malformed_files_name_the_line() {
        check_error("2 2\n1 2\n3 x\n", 3, "the cost of agent 2 for item 2");
        check_error("2 2\n1 2\n3 4\n1 1\n1 -1\n", 5, "must not be negative");
        check_error("2 2\n1 2\n3 4\n1 1\n1 1\n9\n", 6, "the capacity of agent 2");
        check_error("1 1\n1\n1\n1\n7\n", 5, "follows the last instance");
        check_error("", 1, "the number of agents");
    }
}
