//! The store's invariants, checked against one snapshot of the database: what must hold after any crash, restart or concurrent run.
//!
//! One owner per customer is the schema's (one `owner_id` column); what can drift is between
//! tables, so each check here joins two of them. `allot check` prints the report, the crash and
//! scale-out tests assert it.

use serde::Serialize;

use crate::database::{on_backend, sql, ReadTransaction};
use crate::error::StoreResult;
use crate::Store;

/// How many offending ids a check lists (all are counted).
const EXAMPLES: i64 = 10;

/// One invariant and what broke it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvariantCheck {
    /// A stable name: `owners_exist`, `events_chain`, `events_match_owners`, `loads_recount`,
    /// `one_open_transfer`.
    pub name: &'static str,
    /// What must hold, in words.
    pub rule: &'static str,
    /// Records that break it (0 when it holds).
    pub violations: i64,
    /// Some of their ids (customers or reps).
    pub examples: Vec<String>,
}

/// Every invariant, checked on one snapshot.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvariantReport {
    /// True when every check has no violation.
    pub holds: bool,
    pub checks: Vec<InvariantCheck>,
}

/// A check as SQL: the ids that break it, one per row.
struct Check {
    name: &'static str,
    rule: &'static str,
    offenders: &'static str,
}

const CHECKS: [Check; 6] = [
    Check {
        name: "owners_exist",
        rule: "every owned customer's owner is a rep",
        offenders: "SELECT customers.id FROM customers LEFT JOIN reps ON reps.id = customers.owner_id \
                    WHERE customers.owner_id IS NOT NULL AND reps.id IS NULL",
    },
    Check {
        name: "events_chain",
        rule: "each ownership event starts where the customer's previous one ended (the first from the pool) and changes the owner",
        offenders: "SELECT DISTINCT customer_id FROM (\
                      SELECT customer_id, from_rep_id, to_rep_id, \
                             LAG(to_rep_id) OVER (PARTITION BY customer_id ORDER BY id) AS previous_owner, \
                             ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY id) AS position \
                      FROM events WHERE kind LIKE 'ownership.%') chain \
                    WHERE (position = 1 AND from_rep_id IS NOT NULL) \
                       OR (position > 1 AND from_rep_id IS DISTINCT FROM previous_owner) \
                       OR from_rep_id IS NOT DISTINCT FROM to_rep_id",
    },
    Check {
        name: "events_match_owners",
        rule: "every customer's owner is where its last ownership event left it (the pool when it has none)",
        offenders: "SELECT customers.id FROM customers LEFT JOIN (\
                      SELECT customer_id, to_rep_id FROM (\
                        SELECT customer_id, to_rep_id, \
                               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY id DESC) AS position \
                        FROM events WHERE kind LIKE 'ownership.%') ranked WHERE position = 1) last_event \
                    ON last_event.customer_id = customers.id \
                    WHERE customers.owner_id IS DISTINCT FROM last_event.to_rep_id",
    },
    Check {
        name: "loads_recount",
        rule: "each rep's stored owned count and workload are the sums over the customers it owns",
        offenders: "SELECT reps.id FROM reps LEFT JOIN (\
                      SELECT owner_id, COUNT(*) AS owned, SUM(workload) AS workload \
                      FROM customers WHERE owner_id IS NOT NULL GROUP BY owner_id) counted \
                    ON counted.owner_id = reps.id \
                    WHERE reps.owned_count <> COALESCE(counted.owned, 0) \
                       OR ABS(reps.owned_workload - COALESCE(counted.workload, 0)) \
                          > 0.000001 * (1 + ABS(COALESCE(counted.workload, 0)))",
    },
    Check {
        name: "one_open_transfer",
        rule: "a customer is in at most one transfer that is still open",
        offenders: "SELECT transfer_customers.customer_id FROM transfer_customers \
                    JOIN transfers ON transfers.id = transfer_customers.transfer_id \
                    WHERE transfers.state IN ('requested', 'approved') \
                    GROUP BY transfer_customers.customer_id HAVING COUNT(*) > 1",
    },
    Check {
        name: "values_have_health",
        rule: "every graded customer has one health row and every health row a graded customer (grading writes both)",
        offenders: "SELECT customer_values.customer_id FROM customer_values LEFT JOIN customer_health \
                      ON customer_health.customer_id = customer_values.customer_id \
                    WHERE customer_health.customer_id IS NULL \
                    UNION ALL \
                    SELECT customer_health.customer_id FROM customer_health LEFT JOIN customer_values \
                      ON customer_values.customer_id = customer_health.customer_id \
                    WHERE customer_values.customer_id IS NULL",
    },
];

impl Store {
    /// Checks every invariant on one consistent snapshot (a read transaction), so a check never
    /// sees half of a change another process is making.
    pub async fn check_invariants(&self) -> StoreResult<InvariantReport> {
        let mut read = self.database.begin_read().await?;
        let mut checks = Vec::with_capacity(CHECKS.len());
        for check in &CHECKS {
            let (violations, examples) = offenders(&mut read, check.offenders).await?;
            checks.push(InvariantCheck {
                name: check.name,
                rule: check.rule,
                violations,
                examples,
            });
        }
        Ok(InvariantReport {
            holds: checks.iter().all(|check| check.violations == 0),
            checks,
        })
    }
}

/// How many rows `query` gives, and the first few ids in order.
async fn offenders(read: &mut ReadTransaction, query: &str) -> StoreResult<(i64, Vec<String>)> {
    on_backend!(read, |connection, Db| {
        let violations: i64 = sql!(Db; format!("SELECT COUNT(*) FROM ({query}) offenders"))
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?;
        let examples: Vec<String> = if violations == 0 {
            Vec::new()
        } else {
            sql!(Db; format!("SELECT * FROM ({query}) offenders ORDER BY 1 LIMIT "), bind(EXAMPLES))
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?
        };
        Ok((violations, examples))
    })
}
