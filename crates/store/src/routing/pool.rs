//! Routing the whole pool (`allot route`): read a chunk in pool order, decide it, write it, go on;
//! one transaction, so the run lands whole or not at all, and memory stays one chunk.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use allot_core::routing::render_stored_trace;
use allot_core::{Clock, Customer, CustomerId, RepId};

use super::decisions::DecisionBatch;
use super::{RouteRun, RouteSummary};
use crate::customers::{read_pool_chunk, PoolPosition};
use crate::database::{on_backend, sql, Connected, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::imports::Progress;
use crate::Store;

/// Customers read, decided and written together.
const CHUNK_CUSTOMERS: usize = 10_000;

/// The owners of the stored customers among `ids` that have one.
async fn owners_of(
    source: &mut impl Connected,
    ids: &[&str],
) -> StoreResult<HashMap<CustomerId, RepId>> {
    let mut owners = HashMap::new();
    for chunk in ids.chunks(LIST_CHUNK) {
        let rows: Vec<(String, String)> = on_backend!(&mut *source, |connection, Db| {
            let mut query =
                sql!(Db; "SELECT id, owner_id FROM customers WHERE owner_id IS NOT NULL AND ");
            query.push_in_list("id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        for (id, owner) in rows {
            let corrupt = |error: allot_core::FieldError| StoreError::Corrupt(error.to_string());
            owners.insert(
                CustomerId::parse(&id).map_err(corrupt)?,
                RepId::parse(&owner).map_err(corrupt)?,
            );
        }
    }
    Ok(owners)
}

impl Store {
    /// Routes every customer in the pool, oldest first, in one transaction. With `explain`,
    /// every decision comes back in words too (`allot route --json`); the stored decisions have
    /// their traces either way.
    pub async fn route_pool(
        &self,
        clock: Clock,
        actor: &str,
        explain: bool,
        progress: Progress<'_>,
    ) -> StoreResult<RouteRun> {
        let started = Instant::now();
        let mut write = self.begin_write().await?;
        write.plan_each_statement_afresh().await?;
        let (rules, generation) = self.routing_snapshot(&mut write).await?;
        let Some((rules_version, rules)) = rules else {
            return Err(StoreError::NoRules);
        };
        let mut engine = self
            .engine_for(&mut write, generation, Some(rules_version), &rules, clock)
            .await?;
        let states_before = engine.strategy_states();
        let at = clock.now();
        let mut summary = RouteSummary {
            rules_version,
            ..Default::default()
        };
        let mut decisions = Vec::new();
        let mut touched: HashSet<RepId> = HashSet::new();
        let mut batch = DecisionBatch::new(Some(rules_version));
        let (mut reading, mut deciding, mut writing) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut position: Option<PoolPosition> = None;
        loop {
            let read_started = Instant::now();
            let chunk: Vec<Customer> =
                read_pool_chunk(&mut write, position.as_ref(), CHUNK_CUSTOMERS).await?;
            let Some(last) = chunk.last() else {
                break;
            };
            position = Some(PoolPosition::after(last));
            // Parents' owners for the sticky strategy: stored ones, and those routed in this
            // chunk before the customer naming them.
            let parents: Vec<&str> = chunk
                .iter()
                .filter_map(|customer| customer.parent_id.as_ref().map(CustomerId::as_str))
                .collect();
            let mut owners = owners_of(&mut write, &parents).await?;
            reading += read_started.elapsed();
            let decide_started = Instant::now();
            for customer in &chunk {
                let parent_owner = customer
                    .parent_id
                    .as_ref()
                    .and_then(|parent| owners.get(parent));
                let decision = engine.route(customer, parent_owner);
                let (record, stored) = engine.stored(&decision, customer);
                batch.add(&record, &stored, at, actor)?;
                summary.considered += 1;
                match &decision.owner_id {
                    Some(owner) => {
                        summary.routed += 1;
                        *summary
                            .routed_by_rule
                            .entry(record.rule.clone().unwrap_or_default())
                            .or_insert(0) += 1;
                        touched.insert(owner.clone());
                        if !parents.is_empty() {
                            owners.insert(customer.id.clone(), owner.clone());
                        }
                    }
                    None => {
                        summary.left_in_pool += 1;
                        *summary
                            .pool_reasons
                            .entry(record.reason.clone())
                            .or_insert(0) += 1;
                    }
                }
                if explain {
                    // Written in words from the stored form: the same words `render` gives, as a
                    // core test checks, without working the decision out twice.
                    let mut explained = record;
                    explained.trace = render_stored_trace(engine.rules(), &customer.id, &stored);
                    decisions.push(explained);
                }
            }
            deciding += decide_started.elapsed();
            let write_started = Instant::now();
            batch.flush(&mut write).await?;
            writing += write_started.elapsed();
            progress(summary.considered as u64);
        }
        let mut touched: Vec<RepId> = touched.into_iter().collect();
        touched.sort();
        let kept = self
            .save_engine_state(
                &mut write,
                engine,
                Some(rules_version),
                &touched,
                &states_before,
            )
            .await?;
        let commit_started = Instant::now();
        write.commit().await?;
        self.keep_engine(kept);
        tracing::debug!(
            ?reading,
            ?deciding,
            ?writing,
            commit = ?commit_started.elapsed(),
            total = ?started.elapsed(),
            customers = summary.considered,
            "route_pool phases"
        );
        Ok(RouteRun { summary, decisions })
    }
}
