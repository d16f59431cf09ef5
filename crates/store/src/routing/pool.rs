//! Routing the whole pool (`allot route`): read a chunk in pool order, decide it, write it, go on;
//! one transaction, so the run lands whole or not at all, and memory stays a few chunks.
//!
//! Deciding runs on a thread of its own, one chunk behind the reading and one ahead of the
//! writing: while the database writes chunk k and reads chunk k + 2, chunk k + 1 is decided.
//! Decisions stay in pool order, made by one engine, so the run decides exactly as a
//! sequential one would.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use allot_core::routing::{render_stored_trace, DecisionRecord, RoutingEngine};
use allot_core::{Clock, Customer, CustomerId, RepId};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

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
        // Found by id alone: a condition on the owner let PostgreSQL, whose statistics said
        // nobody owned anything yet, walk the owner index over every customer routed so far.
        let rows: Vec<(String, Option<String>)> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, owner_id FROM customers WHERE ");
            query.push_in_list("id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        for (id, owner) in rows {
            let Some(owner) = owner else {
                continue;
            };
            let corrupt = |error: allot_core::FieldError| StoreError::Corrupt(error.to_string());
            owners.insert(
                CustomerId::parse(&id).map_err(corrupt)?,
                RepId::parse(&owner).map_err(corrupt)?,
            );
        }
    }
    Ok(owners)
}

/// A chunk of the pool for the deciding thread, with the stored owners of the parents its
/// customers name.
struct ChunkToDecide {
    customers: Vec<Customer>,
    parent_owners: HashMap<CustomerId, RepId>,
}

/// The deciding side of a run: the engine and everything the run counts.
struct Decider {
    engine: RoutingEngine,
    explain: bool,
    at: DateTime<Utc>,
    actor: String,
    rules_version: i64,
    summary: RouteSummary,
    touched: HashSet<RepId>,
    decisions: Vec<DecisionRecord>,
    /// Owners given in the chunk before: when the next chunk was read they were not written
    /// yet, so the database could not tell a child its parent's new owner.
    owners_of_previous_chunk: HashMap<CustomerId, RepId>,
    deciding: Duration,
}

impl Decider {
    /// Decides a chunk in pool order; its decisions, ready to write.
    fn decide(&mut self, chunk: ChunkToDecide) -> StoreResult<DecisionBatch> {
        let started = Instant::now();
        let mut batch = DecisionBatch::new(Some(self.rules_version));
        let mut owners_of_this_chunk: HashMap<CustomerId, RepId> =
            HashMap::with_capacity(chunk.customers.len());
        for customer in &chunk.customers {
            // Parents' owners for the sticky strategy: routed earlier in this chunk, stored,
            // or routed in the chunk before.
            let parent_owner = customer.parent_id.as_ref().and_then(|parent| {
                owners_of_this_chunk
                    .get(parent)
                    .or_else(|| chunk.parent_owners.get(parent))
                    .or_else(|| self.owners_of_previous_chunk.get(parent))
            });
            let decision = self.engine.route(customer, parent_owner);
            let (record, stored) = self.engine.stored(&decision, customer);
            batch.add(&record, &stored, self.at, &self.actor)?;
            self.summary.considered += 1;
            match &decision.owner_id {
                Some(owner) => {
                    self.summary.routed += 1;
                    *self
                        .summary
                        .routed_by_rule
                        .entry(record.rule.clone().unwrap_or_default())
                        .or_insert(0) += 1;
                    if !self.touched.contains(owner) {
                        self.touched.insert(owner.clone());
                    }
                    owners_of_this_chunk.insert(customer.id.clone(), owner.clone());
                }
                None => {
                    self.summary.left_in_pool += 1;
                    *self
                        .summary
                        .pool_reasons
                        .entry(record.reason.clone())
                        .or_insert(0) += 1;
                }
            }
            if self.explain {
                // Written in words from the stored form: the same words `render` gives, as a
                // core test checks, without working the decision out twice.
                let mut explained = record;
                explained.trace = render_stored_trace(self.engine.rules(), &customer.id, &stored);
                self.decisions.push(explained);
            }
        }
        self.owners_of_previous_chunk = owners_of_this_chunk;
        self.deciding += started.elapsed();
        Ok(batch)
    }
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
        let engine = self
            .engine_for(&mut write, generation, Some(rules_version), &rules, clock)
            .await?;
        let states_before = engine.strategy_states();
        let decider = Decider {
            engine,
            explain,
            at: clock.now(),
            actor: actor.to_string(),
            rules_version,
            summary: RouteSummary {
                rules_version,
                ..Default::default()
            },
            touched: HashSet::new(),
            decisions: Vec::new(),
            owners_of_previous_chunk: HashMap::new(),
            deciding: Duration::ZERO,
        };
        let (to_decide, mut chunks) = mpsc::channel::<ChunkToDecide>(1);
        let (decided_sender, mut decided) = mpsc::channel::<StoreResult<DecisionBatch>>(1);
        let deciding = tokio::task::spawn_blocking(move || {
            let mut decider = decider;
            while let Some(chunk) = chunks.blocking_recv() {
                let batch = decider.decide(chunk);
                let failed = batch.is_err();
                if decided_sender.blocking_send(batch).is_err() || failed {
                    break;
                }
            }
            decider
        });
        let (mut reading, mut writing) = (Duration::ZERO, Duration::ZERO);
        let mut position: Option<PoolPosition> = None;
        let (mut reading_done, mut in_flight, mut written) = (false, 0usize, 0u64);
        loop {
            if !reading_done {
                let read_started = Instant::now();
                let customers: Vec<Customer> =
                    read_pool_chunk(&mut write, position.as_ref(), CHUNK_CUSTOMERS).await?;
                match customers.last() {
                    None => reading_done = true,
                    Some(last) => {
                        position = Some(PoolPosition::after(last));
                        let parents: Vec<&str> = customers
                            .iter()
                            .filter_map(|customer| {
                                customer.parent_id.as_ref().map(CustomerId::as_str)
                            })
                            .collect();
                        let parent_owners = owners_of(&mut write, &parents).await?;
                        drop(parents);
                        if to_decide
                            .send(ChunkToDecide {
                                customers,
                                parent_owners,
                            })
                            .await
                            .is_err()
                        {
                            // The decider stopped on an error, which comes next.
                            reading_done = true;
                        } else {
                            in_flight += 1;
                        }
                    }
                }
                reading += read_started.elapsed();
            }
            if in_flight == 0 {
                break;
            }
            // One chunk stays ahead with the decider while the one before it is written.
            if in_flight >= 2 || reading_done {
                let Some(batch) = decided.recv().await else {
                    break;
                };
                let mut batch = batch?;
                in_flight -= 1;
                let write_started = Instant::now();
                written += batch.len() as u64;
                batch.flush(&mut write).await?;
                writing += write_started.elapsed();
                progress(written);
            }
        }
        drop(to_decide);
        let decider = deciding
            .await
            .map_err(|error| StoreError::Corrupt(format!("routing stopped: {error}")))?;
        let mut touched: Vec<RepId> = decider.touched.into_iter().collect();
        touched.sort();
        let kept = self
            .save_engine_state(
                &mut write,
                decider.engine,
                Some(rules_version),
                &touched,
                &states_before,
            )
            .await?;
        if written >= crate::customers::import::ANALYZE_AFTER_INSERTING as u64 {
            // Routing a large pool moves most customers out of it: PostgreSQL's statistics
            // still said they were all in the pool, and every later pool or view read planned
            // a scan of the whole table (a dashboard of 100,000 customers took 400 ms).
            write.refresh_statistics("customers").await?;
        }
        let commit_started = Instant::now();
        write.commit().await?;
        self.keep_engine(kept);
        tracing::debug!(
            ?reading,
            deciding = ?decider.deciding,
            ?writing,
            commit = ?commit_started.elapsed(),
            total = ?started.elapsed(),
            customers = decider.summary.considered,
            "route_pool phases (deciding overlaps reading and writing)"
        );
        Ok(RouteRun {
            summary: decider.summary,
            decisions: decider.decisions,
        })
    }
}
