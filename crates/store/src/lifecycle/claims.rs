//! Claims of pool customers (P2), judged under the write lock and committed in groups
//! (`group_commit`): each claim of a group is judged in arrival order against the counts the
//! earlier ones left (the rep's customers, its customers of the tier, its claims today), so a
//! group decides what the same claims one at a time would.

use std::collections::HashMap;

use allot_core::access::Principal;
use allot_core::pool::{claim_refusal, ClaimCheck, ClaimRefusal};
use allot_core::strategy::RepState;
use allot_core::{Clock, Customer, CustomerId, RepId};
use chrono::{DateTime, Utc};

use super::{change_owners_each, start_of_today, ChangeReason, OwnerChange};
use crate::customers::load_customers;
use crate::database::{on_backend, sql, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::group_commit::{answer_group, GroupQueue, WorkerRunning};
use crate::{Store, StoredTime, WriteTransaction};

/// Most claims judged in one transaction.
const MOST_PER_GROUP: usize = 128;

/// One claim: who asks (for the refusal's wording and the event's actor), of what, for whom.
#[derive(Clone)]
pub(crate) struct ClaimInput {
    principal: Principal,
    customer_id: CustomerId,
    rep: RepId,
    clock: Clock,
}

/// Claims waiting for this process's claim worker.
pub(crate) type ClaimQueue = GroupQueue<ClaimInput, Customer>;

impl Store {
    /// Claims a pool customer for `for_rep` (a rep claims for itself; admins and managers name
    /// a rep in their view). Refused with the rule that refused it (`owned`, `holding_cap`,
    /// `claim_limit`, `cooldown`, `inactive`, `absent`) and its numbers.
    pub async fn claim(
        &self,
        principal: &Principal,
        customer_id: &CustomerId,
        for_rep: Option<&RepId>,
        clock: Clock,
    ) -> StoreResult<Customer> {
        let rep = claiming_rep(principal, for_rep)?;
        let input = ClaimInput {
            principal: principal.clone(),
            customer_id: customer_id.clone(),
            rep,
            clock,
        };
        let store = self.clone();
        self.claim_queue
            .submit(input, move |running| async move {
                store.work_through_claim_queue(running).await
            })
            .await
    }

    async fn work_through_claim_queue(&self, running: WorkerRunning<ClaimInput, Customer>) {
        // A group's claims share a calendar day, so "claims today" is one count per rep.
        loop {
            let mut day = None;
            let Some(group) = running.next_group(MOST_PER_GROUP, |input| {
                let today = start_of_today(input.clock);
                *day.get_or_insert(today) == today
            }) else {
                return;
            };
            answer_group(group, |inputs| self.claim_in_order(inputs)).await;
        }
    }

    /// Judges and makes the claims in order in one transaction: each is answered with the
    /// customer it claimed or with its refusal. Err only when the transaction fails, and then
    /// nothing is written.
    async fn claim_in_order(
        &self,
        claims: Vec<ClaimInput>,
    ) -> StoreResult<Vec<StoreResult<Customer>>> {
        let Some(first) = claims.first() else {
            return Ok(Vec::new());
        };
        let day = (start_of_today(first.clock), first.clock.end_of_today());
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let customer_ids: Vec<&str> = claims
            .iter()
            .map(|claim| claim.customer_id.as_str())
            .collect();
        let mut rep_ids: Vec<&str> = claims.iter().map(|claim| claim.rep.as_str()).collect();
        rep_ids.sort_unstable();
        rep_ids.dedup();
        let mut customers = load_customers(&mut write, &customer_ids).await?;
        let reps = crate::organisation::find_reps_in(&mut write, &rep_ids).await?;
        // Only tiers with a holding cap are judged on the count of customers held in them.
        let mut capped_tiers: Vec<&str> = customers
            .values()
            .filter_map(|customer| customer.tier.as_ref().map(|tier| tier.as_str()))
            .filter(|tier| policy.pool.holding_cap.contains_key(*tier))
            .collect();
        capped_tiers.sort_unstable();
        capped_tiers.dedup();
        let mut counts =
            ClaimCounts::read(&mut write, &rep_ids, &capped_tiers, &customer_ids, day).await?;

        let mut answers: Vec<StoreResult<()>> = Vec::with_capacity(claims.len());
        for claim in &claims {
            let answer = judge(claim, &customers, &reps, &counts, |check| {
                claim_refusal(&policy.pool, check, claim.clock.today(), |time| {
                    time.with_timezone(&claim.clock.offset()).date_naive()
                })
            });
            if answer.is_ok() {
                if let Some(customer) = customers.get_mut(claim.customer_id.as_str()) {
                    customer.owner_id = Some(claim.rep.clone());
                    counts.gained(
                        claim.rep.as_str(),
                        customer.tier.as_ref().map(|t| t.as_str()),
                    );
                }
            }
            answers.push(answer);
        }

        let actors: Vec<String> = claims.iter().map(|claim| claim.principal.actor()).collect();
        let reasons: Vec<String> = claims
            .iter()
            .map(|claim| format!("claimed from the pool by {}", claim.rep))
            .collect();
        let changes: Vec<(OwnerChange<'_>, ChangeReason<'_>)> = claims
            .iter()
            .zip(&answers)
            .enumerate()
            .filter(|(_, (_, answer))| answer.is_ok())
            .map(|(index, (claim, _))| {
                (
                    OwnerChange {
                        customer_id: &claim.customer_id,
                        from: None,
                        to: Some(&claim.rep),
                        reason: None,
                    },
                    ChangeReason {
                        at: claim.clock.now(),
                        actor: &actors[index],
                        reason: &reasons[index],
                        reason_kind: "claim",
                    },
                )
            })
            .collect();
        let claimed: Vec<&str> = changes
            .iter()
            .map(|(change, _)| change.customer_id.as_str())
            .collect();
        let mut stored = if changes.is_empty() {
            HashMap::new()
        } else {
            change_owners_each(&mut write, &changes).await?;
            load_customers(&mut write, &claimed).await?
        };
        write.commit().await?;
        Ok(claims
            .iter()
            .zip(answers)
            .map(|(claim, answer)| {
                answer?;
                stored
                    .remove(claim.customer_id.as_str())
                    .ok_or_else(|| StoreError::NotFound {
                        entity: "customer",
                        id: claim.customer_id.to_string(),
                    })
            })
            .collect())
    }
}

/// The rep a claim is for: a rep claims for itself; a manager for itself or a rep it sees; an
/// admin must name one.
fn claiming_rep(principal: &Principal, for_rep: Option<&RepId>) -> StoreResult<RepId> {
    match (principal, for_rep) {
        (Principal::Rep { rep }, None) => Ok(rep.clone()),
        (Principal::Rep { rep }, Some(other)) if rep == other => Ok(rep.clone()),
        (Principal::Rep { .. }, Some(_)) => Err(StoreError::Forbidden(
            "a rep claims for itself only".to_string(),
        )),
        (Principal::Manager { rep, .. }, None) => Ok(rep.clone()),
        (_, Some(rep)) if principal.sees_rep(rep) => Ok(rep.clone()),
        (_, Some(rep)) => Err(StoreError::NotFound {
            entity: "rep",
            id: rep.to_string(),
        }),
        (_, None) => Err(StoreError::Invalid(allot_core::FieldError::new(
            "rep_id",
            "an admin claims for a rep: name it in rep_id",
        ))),
    }
}

/// One claim judged against the group's state so far: the customer must exist and be in the
/// pool, the rep must exist, and the pool's rules (`refusal`) must let it.
fn judge(
    claim: &ClaimInput,
    customers: &HashMap<String, Customer>,
    reps: &HashMap<String, RepState>,
    counts: &ClaimCounts,
    refusal: impl Fn(&ClaimCheck<'_>) -> Option<ClaimRefusal>,
) -> StoreResult<()> {
    let customer =
        customers
            .get(claim.customer_id.as_str())
            .ok_or_else(|| StoreError::NotFound {
                entity: "customer",
                id: claim.customer_id.to_string(),
            })?;
    if let Some(owner) = &customer.owner_id {
        return Err(denied(&ClaimRefusal::Owned {
            owner: claim.principal.sees_rep(owner).then(|| owner.to_string()),
        }));
    }
    let state = reps
        .get(claim.rep.as_str())
        .ok_or_else(|| StoreError::NotFound {
            entity: "rep",
            id: claim.rep.to_string(),
        })?;
    let tier = customer.tier.as_ref().map(|tier| tier.as_str());
    let rep = claim.rep.as_str();
    let check = ClaimCheck {
        rep_active: state.rep.active,
        rep_absent: state.rep.is_absent_on(claim.clock.today()),
        rep_absent_until: state.rep.absent_until,
        rep_owned: u64::from(state.load.owned_count) + counts.value(&counts.gained_by, rep),
        rep_capacity: state.rep.capacity,
        tier,
        held_in_tier: tier.map_or(0, |tier| {
            counts
                .held
                .get(&(rep.to_string(), tier.to_string()))
                .copied()
                .unwrap_or(0)
        }),
        claims_today: counts.value(&counts.claims_today, rep),
        last_lost: counts
            .last_lost
            .get(&(claim.customer_id.to_string(), rep.to_string()))
            .copied(),
    };
    match refusal(&check) {
        Some(refusal) => Err(denied(&refusal)),
        None => Ok(()),
    }
}

fn denied(refusal: &ClaimRefusal) -> StoreError {
    StoreError::ClaimRefused(refusal.clone())
}

/// Customers of a tier a rep holds: rep, tier, count.
type HeldRow = (String, String, i64);

/// The counts claims are judged on, read once per group under the write lock and moved on by
/// each claim the group makes.
struct ClaimCounts {
    /// Customers of a tier a rep holds, by (rep, tier).
    held: HashMap<(String, String), u64>,
    /// Claims a rep made today, by rep.
    claims_today: HashMap<String, u64>,
    /// Customers a rep has claimed in this group, by rep.
    gained_by: HashMap<String, u64>,
    /// When a rep last released or lost a customer, and how, by (customer, rep).
    last_lost: HashMap<(String, String), (DateTime<Utc>, &'static str)>,
}

impl ClaimCounts {
    /// `capped_tiers`: the tiers whose holdings are counted (those of the group's customers
    /// that have a holding cap); a rep's customers are not counted at all when there are none.
    async fn read(
        write: &mut WriteTransaction,
        reps: &[&str],
        capped_tiers: &[&str],
        customers: &[&str],
        (day_start, day_end): (DateTime<Utc>, DateTime<Utc>),
    ) -> StoreResult<ClaimCounts> {
        let mut counts = ClaimCounts {
            held: HashMap::new(),
            claims_today: HashMap::new(),
            gained_by: HashMap::new(),
            last_lost: HashMap::new(),
        };
        for reps in reps.chunks(LIST_CHUNK / 2) {
            let (held, claims): (Vec<HeldRow>, Vec<(String, i64)>) = on_backend!(
                &mut *write,
                |connection, Db| {
                    let held = if capped_tiers.is_empty() {
                        Vec::new()
                    } else {
                        let mut query =
                            sql!(Db; "SELECT owner_id, tier, COUNT(*) FROM customers WHERE ");
                        query.push_in_list("tier", capped_tiers);
                        query.push(" AND ");
                        query.push_in_list("owner_id", reps);
                        query.push(" GROUP BY owner_id, tier");
                        query.build_query_as().fetch_all(&mut *connection).await?
                    };
                    let mut query = sql!(Db; "SELECT to_rep_id, COUNT(*) FROM events WHERE reason_kind = 'claim' AND at >= ",
                        bind(StoredTime(day_start)), " AND at < ", bind(StoredTime(day_end)), " AND ");
                    query.push_in_list("to_rep_id", reps);
                    query.push(" GROUP BY to_rep_id");
                    let claims = query.build_query_as().fetch_all(&mut *connection).await?;
                    (held, claims)
                }
            );
            for (rep, tier, count) in held {
                counts.held.insert((rep, tier), count.max(0) as u64);
            }
            for (rep, count) in claims {
                counts.claims_today.insert(rep, count.max(0) as u64);
            }
        }
        for customers in customers.chunks(LIST_CHUNK / 2) {
            let lost: Vec<(String, String, StoredTime, Option<String>)> = on_backend!(
                &mut *write,
                |connection, Db| {
                    let mut query = sql!(Db; "SELECT customer_id, from_rep_id, at, reason_kind FROM events WHERE kind LIKE 'ownership.%' AND ");
                    query.push_in_list("customer_id", customers);
                    query.push(" AND ");
                    query.push_in_list("from_rep_id", reps);
                    query.push(" ORDER BY id DESC");
                    query.build_query_as().fetch_all(&mut *connection).await?
                }
            );
            for (customer, rep, at, kind) in lost {
                let how = match kind.as_deref() {
                    Some("release") => "released by this rep",
                    Some("reclaim") => "reclaimed from this rep",
                    _ => "taken from this rep",
                };
                // Newest first: the first row of a pair is its last loss.
                counts
                    .last_lost
                    .entry((customer, rep))
                    .or_insert((at.0, how));
            }
        }
        Ok(counts)
    }

    fn value(&self, of: &HashMap<String, u64>, rep: &str) -> u64 {
        of.get(rep).copied().unwrap_or(0)
    }

    /// A claim of a customer of `tier` by `rep` was made.
    fn gained(&mut self, rep: &str, tier: Option<&str>) {
        *self.gained_by.entry(rep.to_string()).or_insert(0) += 1;
        *self.claims_today.entry(rep.to_string()).or_insert(0) += 1;
        if let Some(tier) = tier {
            *self
                .held
                .entry((rep.to_string(), tier.to_string()))
                .or_insert(0) += 1;
        }
    }
}
