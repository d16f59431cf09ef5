//! Allot's pure core: domain types, the condition language, rules, strategies, routing and fairness metrics.
//!
//! Nothing here does IO, async or database work: every function takes plain values
//! (a snapshot of the organisation and a clock) and returns a decision, so it is fast
//! to test and to benchmark.

pub mod access;
pub mod activity;
pub mod clock;
pub mod clv;
pub mod condition;
pub mod contact;
pub mod customer;
pub mod demo;
pub mod error;
pub mod fairness;
pub mod ids;
pub mod input;
pub mod matching;
pub mod model;
pub mod money;
pub mod optimise;
pub mod pool;
pub mod rebalance;
pub mod rfm_segment;
pub mod routing;
pub mod rules;
pub mod service;
pub mod simulate;
pub mod strategy;
pub mod text;
pub mod update;
pub mod value;
pub mod vocabulary;

pub use clock::Clock;
pub use customer::{Customer, CustomerFields, Workload};
pub use error::{FieldError, FieldErrors, RuleError};
pub use ids::{CustomerId, Region, RepId, TeamId};
pub use model::{Level, Rep, Role, Team};
pub use money::Money;
pub use vocabulary::{StageName, TierName, Vocabulary};

#[cfg(test)]
pub(crate) mod test_support;
