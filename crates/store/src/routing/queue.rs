//! Routing one customer at a time (`POST /api/v1/route`), committed in groups (`group_commit`):
//! requests of a group are decided one after another in arrival order, against the loads and
//! rotation the earlier ones left, so the result is what one-at-a-time would give.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use allot_core::routing::{render_stored_trace, DecisionRecord};
use allot_core::rules::RuleSet;
use allot_core::update::GivenColumns;
use allot_core::{Clock, Customer, CustomerFields, CustomerId, RepId};

use super::decisions::DecisionBatch;
use super::SingleRoute;
use crate::customers::import::{graded_tier_refused, parent_link_closes_cycle};
use crate::customers::load_customers;
use crate::customers::write::{recount_rep_loads, upsert_customers};
use crate::database::bulk::Transfer;
use crate::database::{on_backend, sql, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::group_commit::{answer_group, GroupQueue, WorkerRunning};
use crate::lifecycle::conflicts::{
    find_duplicates, open_conflicts, ConflictSource, KeyMatches, NewConflict, OpenedConflict,
};
use crate::{Store, WriteTransaction};

/// Most requests routed in one transaction.
const MOST_PER_GROUP: usize = 256;

/// One request to route a customer: its fields, the columns its body gave, the clock, the actor.
pub(crate) type RouteInput = (CustomerFields, GivenColumns, Clock, String);

/// Requests waiting for the routing worker of this process.
pub(crate) type RouteQueue = GroupQueue<RouteInput, SingleRoute>;

impl Store {
    /// Creates or updates one customer and routes it if it has no owner. A customer that
    /// already has an owner is not routed again; the decision that explains its owner is
    /// returned. The owner is routing's to decide: an `owner_id` in `fields` is ignored.
    pub async fn route_one(
        &self,
        mut fields: CustomerFields,
        given: &GivenColumns,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<SingleRoute> {
        fields.remove("owner_id");
        let input = (
            fields,
            given.clone().without("owner_id"),
            clock,
            actor.to_string(),
        );
        let store = self.clone();
        self.route_queue
            .submit(input, move |running| async move {
                store.work_through_route_queue(running).await
            })
            .await
    }

    async fn work_through_route_queue(&self, running: WorkerRunning<RouteInput, SingleRoute>) {
        // One request per customer in a group: a second one for the same customer is decided
        // after the first is written, in the next group.
        loop {
            let mut ids = HashSet::new();
            let Some(group) = running.next_group(MOST_PER_GROUP, |(fields, ..)| {
                ids.insert(fields.id().trim().to_string())
            }) else {
                return;
            };
            answer_group(group, |inputs| self.route_requests(inputs)).await;
        }
    }

    /// Routes the requests in order in one transaction: every valid one is written and
    /// answered with its decision, every invalid one answered with its error. Err only when
    /// the transaction itself fails, and then nothing is written.
    async fn route_requests(
        &self,
        requests: Vec<RouteInput>,
    ) -> StoreResult<Vec<StoreResult<SingleRoute>>> {
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let vocabulary = policy.vocabulary();
        let webhook = crate::lifecycle::pool::policy_has_webhook(&policy);
        let (rules, generation) = self.routing_snapshot(&mut write).await?;
        let (rules_version, rules) = match rules {
            Some((version, rules)) => (Some(version), rules),
            None => (None, Arc::new(RuleSet::default())),
        };
        let clock = requests
            .first()
            .map(|request| request.2)
            .expect("a request");
        let mut engine = self
            .engine_for(&mut write, generation, rules_version, &rules, clock)
            .await?;
        let states_before = engine.strategy_states();

        // Each body parsed and merged over its stored customer.
        let mut answers: Vec<Option<StoreResult<SingleRoute>>> = Vec::with_capacity(requests.len());
        let mut parsed = Vec::with_capacity(requests.len());
        for (index, (fields, given, clock, actor)) in requests.into_iter().enumerate() {
            answers.push(None);
            match fields.into_customer(&vocabulary) {
                Ok(incoming) => parsed.push((index, incoming, given, clock, actor)),
                Err(errors) => answers[index] = Some(Err(StoreError::InvalidRecord(errors))),
            }
        }
        let ids: Vec<&str> = parsed
            .iter()
            .map(|(_, customer, ..)| customer.id.as_str())
            .collect();
        let mut stored = load_customers(&mut write, &ids).await?;
        let graded = graded_ids(&mut write, &ids).await?;
        let parents: Vec<&str> = parsed
            .iter()
            .filter_map(|(_, customer, given, ..)| {
                // A parent the body does not give is the stored one.
                let parent = if given.contains("parent_id") {
                    customer.parent_id.as_ref()
                } else {
                    stored
                        .get(customer.id.as_str())
                        .and_then(|existing| existing.parent_id.as_ref())
                };
                parent.map(CustomerId::as_str)
            })
            .collect();
        let mut parent_owners = stored_owners(&mut write, &parents).await?;
        drop((ids, parents));
        // 撞单: a new customer whose keys match a stored one (or an earlier one of the group)
        // is not created or routed.
        let new_records: Vec<&Customer> = parsed
            .iter()
            .map(|(_, customer, ..)| customer)
            .filter(|customer| !stored.contains_key(customer.id.as_str()))
            .collect();
        let mut matches_of: HashMap<String, KeyMatches> =
            find_duplicates(&mut write, &new_records, None)
                .await?
                .0
                .into_iter()
                .zip(&new_records)
                .filter(|(matches, _)| !matches.is_empty())
                .map(|(matches, record)| (record.id.to_string(), matches))
                .collect();
        drop(new_records);
        let mut duplicates: Vec<(usize, Customer, KeyMatches, String)> = Vec::new();

        let mut batch = DecisionBatch::new(rules_version);
        let mut to_write: Vec<Customer> = Vec::new();
        // The stored versions of the customers written again, whose match keys may change.
        let mut previous: Vec<Customer> = Vec::new();
        let mut workload_changed: HashSet<String> = HashSet::new();
        let mut touched: Vec<RepId> = Vec::new();
        let mut decided: Vec<(usize, DecisionRecord, bool)> = Vec::new();
        for (index, incoming, given, request_clock, actor) in parsed {
            if let Some(matches) = matches_of.remove(incoming.id.as_str()) {
                duplicates.push((index, incoming, matches, actor));
                continue;
            }
            let existing = stored.remove(incoming.id.as_str());
            let checked = self
                .check_route_request(
                    &mut write,
                    &engine,
                    incoming,
                    &given,
                    existing.as_ref(),
                    &graded,
                    &parent_owners,
                    request_clock,
                )
                .await?;
            let (customer, parent_owner) = match checked {
                Ok(checked) => checked,
                Err(error) => {
                    answers[index] = Some(Err(error));
                    continue;
                }
            };
            if let Some(existing) = existing {
                if existing.workload != customer.workload {
                    workload_changed.extend(existing.owner_id.as_ref().map(ToString::to_string));
                }
                previous.push(existing);
            }
            if let Some(owner) = customer.owner_id.clone() {
                // Owned already: routing never moves an owned customer.
                let previous = self
                    .latest_assigning_decision(&mut write, &customer.id)
                    .await?;
                let decision = match previous {
                    Some(previous) if previous.decision.owner_id.as_deref() == Some(owner.as_str()) => {
                        previous.decision
                    }
                    // The last routing decision named someone else: the owner was set later,
                    // by an import or by hand.
                    _ => DecisionRecord {
                        customer_id: customer.id.to_string(),
                        owner_id: Some(owner.to_string()),
                        rule: None,
                        strategy: None,
                        reason: format!(
                            "already owned by {owner}, who was set outside routing (import or manual assignment); routing never moves an owned customer"
                        ),
                        trace: Default::default(),
                    },
                };
                decided.push((index, decision, false));
                to_write.push(customer);
                continue;
            }
            engine.set_clock(request_clock);
            let decision = engine.route(&customer, parent_owner.as_ref());
            let (mut record, stored_trace) = engine.stored(&decision, &customer);
            batch.add(&record, &stored_trace, request_clock.now(), &actor)?;
            record.trace = render_stored_trace(engine.rules(), &customer.id, &stored_trace);
            if let Some(owner) = &decision.owner_id {
                touched.push(owner.clone());
                // A later request of the group may name this customer as its parent.
                parent_owners.insert(customer.id.clone(), owner.clone());
            }
            decided.push((index, record, decision.owner_id.is_some()));
            to_write.push(customer);
        }
        let customers: Vec<&Customer> = to_write.iter().collect();
        let previous: Vec<&Customer> = previous.iter().collect();
        upsert_customers(
            &mut write,
            &customers,
            &previous,
            clock.now(),
            Transfer::Arrays,
        )
        .await?;
        batch.flush(&mut write).await?;
        let workload_changed: HashSet<&str> = workload_changed.iter().map(String::as_str).collect();
        recount_rep_loads(&mut write, &workload_changed).await?;
        touched.sort();
        touched.dedup();
        let kept = self
            .save_engine_state(&mut write, engine, rules_version, &touched, &states_before)
            .await?;
        for (index, duplicate, matches, actor) in duplicates {
            let opened = open_conflicts(
                &mut write,
                &[NewConflict {
                    duplicate: &duplicate,
                    matches,
                    source: ConflictSource::Route,
                    actor: &actor,
                }],
                clock.now(),
                webhook,
            )
            .await?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a duplicate opened no conflict".to_string()))?;
            let decision = self.duplicate_decision(&mut write, &opened).await?;
            answers[index] = Some(Ok(SingleRoute {
                routed_now: false,
                decision,
                conflict: Some(opened),
            }));
        }
        write.commit().await?;
        self.keep_engine(kept);
        for (index, decision, routed_now) in decided {
            answers[index] = Some(Ok(SingleRoute {
                routed_now,
                decision,
                conflict: None,
            }));
        }
        Ok(answers
            .into_iter()
            .map(|answer| answer.expect("every request answered"))
            .collect())
    }

    /// The answer to a route of a duplicate: the existing customer's decision, said to be its.
    async fn duplicate_decision(
        &self,
        write: &mut WriteTransaction,
        opened: &OpenedConflict,
    ) -> StoreResult<DecisionRecord> {
        let existing = CustomerId::parse(opened.customer_id.as_deref().unwrap_or_default())
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let owner: Option<String> = on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "SELECT owner_id FROM customers WHERE id = ", bind(existing.as_str()))
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
                .flatten()
        });
        let matched: Vec<String> = opened
            .matched
            .iter()
            .map(|key| {
                format!(
                    "its {} '{}' matches {}",
                    key.field,
                    key.key,
                    key.customer_id.as_deref().unwrap_or("-")
                )
            })
            .collect();
        let not_routed = format!(
            "{} was not routed: {}; it is kept in conflict {} as a duplicate of {existing}",
            opened.duplicate_id,
            matched.join(", "),
            opened.conflict_id
        );
        let previous = self.latest_assigning_decision(write, &existing).await?;
        Ok(match previous {
            Some(previous) if previous.decision.owner_id == owner => {
                let mut decision = previous.decision;
                decision.reason =
                    format!("{not_routed}; {existing}'s decision: {}", decision.reason);
                decision
            }
            _ => DecisionRecord {
                customer_id: existing.to_string(),
                owner_id: owner.clone(),
                rule: None,
                strategy: None,
                reason: match &owner {
                    Some(owner) => format!("{not_routed}, owned by {owner}"),
                    None => format!("{not_routed}, which is in the pool"),
                },
                trace: Default::default(),
            },
        })
    }

    /// One request's customer, checked like a manual update, with its parent's owner; or why
    /// it cannot be routed. Err only when the database fails.
    #[allow(clippy::too_many_arguments)]
    async fn check_route_request(
        &self,
        write: &mut WriteTransaction,
        engine: &allot_core::routing::RoutingEngine,
        incoming: Customer,
        given: &GivenColumns,
        existing: Option<&Customer>,
        graded: &HashSet<String>,
        parent_owners: &HashMap<CustomerId, RepId>,
        clock: Clock,
    ) -> StoreResult<StoreResult<(Customer, Option<RepId>)>> {
        let customer = match existing {
            Some(existing) => match existing.updated_with(&incoming, given) {
                Ok(customer) => customer,
                Err(errors) => return Ok(Err(StoreError::InvalidRecord(errors))),
            },
            None => {
                let mut customer = incoming;
                if customer.created_at.is_none() {
                    customer.created_at = Some(clock.now());
                }
                customer
            }
        };
        // As for PUT /customers/{id}: a graded customer's tier follows its value.
        if let Some(existing) = existing.filter(|existing| existing.tier != customer.tier) {
            if graded.contains(customer.id.as_str()) {
                return Ok(Err(StoreError::Conflict {
                    message: graded_tier_refused(&customer, existing),
                    field: Some("tier".to_string()),
                }));
            }
        }
        if let Some(rep) = &customer.first_touch_rep_id {
            if engine.rep(rep).is_none() {
                return Ok(Err(StoreError::Conflict {
                    message: format!("rep '{rep}' does not exist"),
                    field: Some("first_touch_rep_id".to_string()),
                }));
            }
        }
        let Some(parent) = customer.parent_id.clone() else {
            return Ok(Ok((customer, None)));
        };
        let parent_known =
            parent_owners.contains_key(&parent) || parent_exists(write, &parent).await?;
        if !parent_known {
            return Ok(Err(StoreError::Conflict {
                message: format!("customer '{parent}' does not exist"),
                field: Some("parent_id".to_string()),
            }));
        }
        // A new customer cannot close a cycle: nothing stored names it as a parent.
        let parent_changed =
            existing.is_some_and(|existing| existing.parent_id != customer.parent_id);
        if parent_changed && parent_link_closes_cycle(write, &customer.id, &parent).await? {
            return Ok(Err(StoreError::Conflict {
                message: format!(
                    "making '{parent}' the parent of '{}' forms a cycle",
                    customer.id
                ),
                field: Some("parent_id".to_string()),
            }));
        }
        let owner = parent_owners.get(&parent).cloned();
        Ok(Ok((customer, owner)))
    }
}

/// The graded customers among `ids`.
async fn graded_ids(write: &mut WriteTransaction, ids: &[&str]) -> StoreResult<HashSet<String>> {
    let mut graded = HashSet::new();
    for chunk in ids.chunks(LIST_CHUNK) {
        let found: Vec<String> = on_backend!(&mut *write, |connection, Db| {
            let mut query = sql!(Db; "SELECT customer_id FROM customer_values WHERE ");
            query.push_in_list("customer_id", chunk);
            query
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?
        });
        graded.extend(found);
    }
    Ok(graded)
}

/// The owners of the customers among `ids` that are stored and owned.
async fn stored_owners(
    write: &mut WriteTransaction,
    ids: &[&str],
) -> StoreResult<HashMap<CustomerId, RepId>> {
    let mut owners = HashMap::new();
    for chunk in ids.chunks(LIST_CHUNK) {
        let rows: Vec<(String, String)> = on_backend!(&mut *write, |connection, Db| {
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

async fn parent_exists(write: &mut WriteTransaction, parent: &CustomerId) -> StoreResult<bool> {
    let found: Option<i64> = on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "SELECT CAST(1 AS BIGINT) FROM customers WHERE id = ", bind(parent.as_str()))
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
    });
    Ok(found.is_some())
}
