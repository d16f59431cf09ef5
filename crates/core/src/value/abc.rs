//! ABC classes: customers cut by their cumulative share of the total value, best first.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::policy::AbcPolicy;
use crate::ids::CustomerId;

/// A customer's ABC class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AbcClass {
    A,
    B,
    C,
}

impl AbcClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AbcClass::A => "A",
            AbcClass::B => "B",
            AbcClass::C => "C",
        }
    }
}

impl fmt::Display for AbcClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classes in input order. Customers are taken by value descending (ties by id); one is A while
/// the share of the total held by the customers before it is below `a`%, B while below `(a + b)`%,
/// and C after that. A value that is zero, negative or not finite is always C and not in the total.
pub(crate) fn abc_classes(
    policy: &AbcPolicy,
    values: &[f64],
    ids: &[&CustomerId],
) -> Vec<AbcClass> {
    let counts = |value: f64| value.is_finite() && value > 0.0;
    let mut order: Vec<usize> = (0..values.len())
        .filter(|index| counts(values[*index]))
        .collect();
    order.sort_by(|left, right| {
        values[*right]
            .total_cmp(&values[*left])
            .then_with(|| ids[*left].cmp(ids[*right]))
            .then_with(|| left.cmp(right))
    });
    let total: f64 = order.iter().map(|index| values[*index]).sum();
    let mut classes = vec![AbcClass::C; values.len()];
    let mut before = 0.0;
    for index in order {
        // Compared as `before × 100 < a × total` so exact shares such as 80 of 100 land on the edge, not past it.
        classes[index] = if before * 100.0 < policy.a_percent * total {
            AbcClass::A
        } else if before * 100.0 < (policy.a_percent + policy.b_percent) * total {
            AbcClass::B
        } else {
            AbcClass::C
        };
        before += values[index];
    }
    classes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::policy::AbcBasis;

    fn check(a_percent: f64, b_percent: f64, values: &[(&str, f64)], expected: &str) {
        let policy = AbcPolicy {
            by: AbcBasis::Monetary,
            a_percent,
            b_percent,
        };
        let ids: Vec<CustomerId> = values
            .iter()
            .map(|(id, _)| CustomerId::parse(id).unwrap())
            .collect();
        let id_refs: Vec<&CustomerId> = ids.iter().collect();
        let amounts: Vec<f64> = values.iter().map(|(_, value)| *value).collect();
        let classes: String = abc_classes(&policy, &amounts, &id_refs)
            .iter()
            .map(|class| class.as_str())
            .collect();
        assert_eq!(classes, expected, "{values:?}");
    }

    #[test]
    fn cumulative_share_cuts_80_15_5() {
        // By hand: shares before each customer are 0, 50, 80, 90, 95, 98 percent.
        check(
            80.0,
            15.0,
            &[
                ("c1", 50.0),
                ("c2", 30.0),
                ("c3", 10.0),
                ("c4", 5.0),
                ("c5", 3.0),
                ("c6", 2.0),
            ],
            "AABBCC",
        );
        // Input order does not matter; ties are taken by id, so "a" comes before "b".
        check(
            80.0,
            15.0,
            &[
                ("b", 10.0),
                ("z", 0.0),
                ("a", 10.0),
                ("y", -3.0),
                ("c", 75.0),
                ("d", 5.0),
            ],
            "BCACAC",
        );
        check(80.0, 15.0, &[("one", 5.0)], "A");
        check(80.0, 15.0, &[("x", 0.0), ("y", f64::NAN)], "CC");
        check(0.0, 0.0, &[("x", 5.0), ("y", 1.0)], "CC");
        check(100.0, 0.0, &[("x", 5.0), ("y", 1.0)], "AA");
        check(80.0, 15.0, &[], "");
    }
}
