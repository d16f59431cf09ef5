//! The public pool (公海) in the database (claims are `claims`): releases, the
//! pool as a rep sees it (how long each customer has waited and why), and the daily reclaim of
//! customers without real follow-up.

use allot_core::access::Principal;
use allot_core::pool::{reclaim_standing, PoolPolicy, ReclaimFacts, ReclaimStanding};
use allot_core::value::ValuePolicy;
use allot_core::{Clock, Customer, CustomerId, RepId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::notifications::{notify, NewNotification};
use super::{change_owners, customer_in_view_in, ChangeReason, OwnerChange, View};
use crate::customers::{CustomerFilter, CustomerPage};
use crate::database::{on_backend, sql, Connected, TextList};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime, WriteTransaction};

/// The daily job that warns and reclaims.
pub const RECLAIM_JOB: &str = "reclaim";

/// A pool customer with how long it has waited and why it is there.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolEntry {
    pub customer: Customer,
    /// When it entered the pool (its release or reclaim, or its creation); RFC 3339.
    pub in_pool_since: Option<String>,
    /// Whole days in the pool as of the clock.
    pub days_in_pool: Option<i64>,
    /// `new` (never owned), `release`, `reclaim`, `rep_left`, `manual`, …
    pub reason_kind: String,
    /// The words of the event that put it there.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolPage {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub items: Vec<PoolEntry>,
}

/// One customer the reclaim job warns about or reclaims.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReclaimItem {
    pub customer_id: String,
    pub owner_id: String,
    pub tier: String,
    /// Days since the later of getting the customer and the last real follow-up.
    pub idle_days: i64,
    /// The day it is (or would be) reclaimed.
    pub reclaim_on: String,
    /// For a warning: whether it was sent before (a dry run lists it anyway).
    pub already_warned: bool,
}

/// What the reclaim job did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReclaimSummary {
    pub warned: Vec<ReclaimItem>,
    pub reclaimed: Vec<ReclaimItem>,
}

#[derive(sqlx::FromRow)]
struct OwnedRow {
    id: String,
    owner_id: String,
    tier: String,
    owned_since: Option<StoredTime>,
    got_by: Option<String>,
    created_at: Option<StoredTime>,
    last_follow_up: Option<StoredTime>,
}

impl Store {
    /// Returns a customer to the pool: its owner may, and admins and managers over it.
    /// Someone else's customer is `not_owner`; one with an open transfer `open_transfer`.
    pub async fn release(
        &self,
        principal: &Principal,
        customer_id: &CustomerId,
        reason: &str,
        clock: Clock,
    ) -> StoreResult<Customer> {
        let reason = allot_core::text::parse_text("reason", reason)?;
        if reason.is_empty() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "reason",
                "say why the customer goes back to the pool",
            )));
        }
        let view = self.view_of(principal, clock).await?;
        let mut write = self.begin_write().await?;
        let customer = customer_in_view_in(&mut write, &view, customer_id).await?;
        let owner = match &customer.owner_id {
            Some(owner)
                if principal.rep() == Some(owner)
                    || principal.role() != allot_core::Role::Rep && principal.sees_rep(owner) =>
            {
                owner.clone()
            }
            Some(_) => {
                return Err(StoreError::Denied {
                    code: "not_owner",
                    message: format!("customer {customer_id} is not yours to release"),
                })
            }
            None => {
                return Err(StoreError::Denied {
                    code: "not_owner",
                    message: format!("customer {customer_id} is already in the pool"),
                })
            }
        };
        if super::transfers::open_transfer_of(&mut write, customer_id)
            .await?
            .is_some()
        {
            return Err(StoreError::Denied {
                code: "open_transfer",
                message: format!(
                    "customer {customer_id} has an open transfer; cancel it before releasing"
                ),
            });
        }
        change_owners(
            &mut write,
            &[OwnerChange {
                customer_id,
                from: Some(&owner),
                to: None,
                reason: None,
            }],
            ChangeReason {
                at: clock.now(),
                actor: &principal.actor(),
                reason: &reason,
                reason_kind: "release",
            },
        )
        .await?;
        let released =
            customer_in_view_in(&mut write, &View::everything(clock), customer_id).await?;
        write.commit().await?;
        Ok(released)
    }

    /// The pool customers matching `filter` (its `in_pool` is ignored), each with when and
    /// why it entered the pool.
    pub async fn list_pool(&self, filter: &CustomerFilter, clock: Clock) -> StoreResult<PoolPage> {
        let filter = CustomerFilter {
            in_pool: Some(true),
            owner_id: None,
            ..filter.clone()
        };
        let CustomerPage {
            total,
            limit,
            offset,
            items,
        } = self.list_customers(&filter).await?;
        let ids: Vec<&str> = items.iter().map(|customer| customer.id.as_str()).collect();
        let mut connection = self.database.acquire().await?;
        let mut last_events: std::collections::HashMap<
            String,
            (StoredTime, Option<String>, String),
        > = std::collections::HashMap::new();
        for chunk in ids.chunks(crate::database::LIST_CHUNK) {
            let rows: Vec<(String, StoredTime, Option<String>, String)> = on_backend!(
                &mut connection,
                |connection, Db| {
                    let mut query = sql!(Db; "SELECT customer_id, at, reason_kind, reason FROM events WHERE id IN (",
                        "SELECT MAX(id) FROM events WHERE ");
                    query.push_in_list("customer_id", chunk);
                    query.push(" GROUP BY customer_id)");
                    query.build_query_as().fetch_all(&mut *connection).await?
                }
            );
            for (customer, at, kind, reason) in rows {
                last_events.insert(customer, (at, kind, reason));
            }
        }
        let items = items
            .into_iter()
            .map(|customer| {
                let (since, reason_kind, reason) = match last_events.remove(customer.id.as_str()) {
                    Some((at, kind, reason)) => (
                        Some(at.0),
                        kind.unwrap_or_else(|| "release".to_string()),
                        reason,
                    ),
                    None => (
                        customer.created_at,
                        "new".to_string(),
                        "new customer, never owned".to_string(),
                    ),
                };
                PoolEntry {
                    in_pool_since: since.map(|at| StoredTime(at).text()),
                    days_in_pool: since.map(|at| (clock.now() - at).num_days().max(0)),
                    reason_kind,
                    reason,
                    customer,
                }
            })
            .collect();
        Ok(PoolPage {
            total,
            limit,
            offset,
            items,
        })
    }

    /// What the reclaim job would warn and reclaim as of the clock, changing nothing.
    pub async fn reclaim_preview(&self, clock: Clock) -> StoreResult<ReclaimSummary> {
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        reclaim_in(&mut write, &policy, clock, true).await
    }
}

/// Appends the condition "this interaction is real follow-up" by the policy's list.
fn real_follow_up_condition(pool: &PoolPolicy) -> (String, Vec<String>) {
    let mut text = Vec::new();
    let mut values = Vec::new();
    for real in &pool.real_follow_up {
        values.push(real.kind.as_str().to_string());
        match &real.outcome {
            Some(outcome) => {
                text.push("(i.kind = ? AND i.outcome = ?)");
                values.push(outcome.clone());
            }
            None => text.push("(i.kind = ?)"),
        }
    }
    if text.is_empty() {
        return ("1 = 0".to_string(), values);
    }
    (format!("({})", text.join(" OR ")), values)
}

/// The reclaim job: owners of customers without real follow-up are warned once, then the
/// customers go back to the pool (with the numbers in the event's words) and their former
/// owners enter cooldown. Customers with an open transfer are left alone. `dry` changes
/// nothing and lists warnings sent before too.
pub(crate) async fn reclaim_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    clock: Clock,
    dry: bool,
) -> StoreResult<ReclaimSummary> {
    let pool = &policy.pool;
    let mut summary = ReclaimSummary::default();
    let tiers: Vec<&str> = pool.reclaim_after_days.keys().map(String::as_str).collect();
    if tiers.is_empty() {
        return Ok(summary);
    }
    let (condition, values) = real_follow_up_condition(pool);
    let now = clock.now();
    let rows: Vec<OwnedRow> = on_backend!(&mut *write, |connection, Db| {
        let mut query = sql!(Db; "SELECT c.id, c.owner_id, c.tier,",
            " (SELECT e.at FROM events AS e WHERE e.customer_id = c.id ORDER BY e.id DESC LIMIT 1) AS owned_since,",
            " (SELECT e.reason_kind FROM events AS e WHERE e.customer_id = c.id ORDER BY e.id DESC LIMIT 1) AS got_by,",
            " c.created_at,",
            " (SELECT MAX(i.at) FROM interactions AS i WHERE i.customer_id = c.id AND i.rep_id = c.owner_id AND i.at <= ",
            bind(StoredTime(now)), " AND ");
        // The condition's placeholders are bound in order.
        let mut parts = condition.split('?');
        if let Some(first) = parts.next() {
            query.push(first);
        }
        for (part, value) in parts.zip(values.iter()) {
            query.push_bind(value.as_str());
            query.push(part);
        }
        query.push(") AS last_follow_up FROM customers AS c WHERE c.owner_id IS NOT NULL AND ");
        query.push_in_list("c.tier", &tiers);
        query.push(" AND NOT EXISTS (SELECT 1 FROM transfer_customers AS tc WHERE tc.customer_id = c.id AND tc.is_open)");
        query.push(format!(
            " ORDER BY {}",
            <Db as crate::database::Dialect>::byte_order("c.id")
        ));
        query.build_query_as().fetch_all(&mut *connection).await?
    });
    let to_date = |time: DateTime<Utc>| time.with_timezone(&clock.offset()).date_naive();
    let today = clock.today();
    let mut reclaims: Vec<(CustomerId, RepId, ReclaimItem)> = Vec::new();
    for row in rows {
        let Some(owned_since) = row.owned_since.or(row.created_at).map(|time| time.0) else {
            continue;
        };
        let facts = ReclaimFacts {
            tier: Some(&row.tier),
            owned_since,
            claimed: row.got_by.as_deref() == Some("claim"),
            last_real_follow_up: row.last_follow_up.map(|time| time.0),
        };
        let (standing, idle_days) = reclaim_standing(pool, &facts, today, to_date);
        let customer_id =
            CustomerId::parse(&row.id).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let owner =
            RepId::parse(&row.owner_id).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        match standing {
            ReclaimStanding::Kept => {}
            ReclaimStanding::Warn { reclaim_on } => {
                let start = facts
                    .last_real_follow_up
                    .map_or(owned_since, |last| last.max(owned_since));
                let key = format!(
                    "reclaim_warning:{}:{}:{}",
                    row.id,
                    row.owner_id,
                    StoredTime(start).text()
                );
                let text = format!(
                    "customer {} ({} tier) has had no real follow-up for {idle_days} days; it returns to the pool on {reclaim_on} unless you follow up (visit, reached call or meeting)",
                    row.id, row.tier
                );
                let already_warned = if dry {
                    warned_before(write, &key).await?
                } else {
                    !notify(
                        write,
                        &NewNotification {
                            recipient: Some(&owner),
                            kind: "reclaim_warning",
                            customer_id: Some(&customer_id),
                            transfer_id: None,
                            text,
                            once_key: Some(key),
                        },
                        now,
                        policy_has_webhook(policy),
                    )
                    .await?
                };
                if dry || !already_warned {
                    summary.warned.push(ReclaimItem {
                        customer_id: row.id.clone(),
                        owner_id: row.owner_id.clone(),
                        tier: row.tier.clone(),
                        idle_days,
                        reclaim_on: reclaim_on.to_string(),
                        already_warned,
                    });
                }
            }
            ReclaimStanding::Reclaim => {
                let item = ReclaimItem {
                    customer_id: row.id.clone(),
                    owner_id: row.owner_id.clone(),
                    tier: row.tier.clone(),
                    idle_days,
                    reclaim_on: today.to_string(),
                    already_warned: false,
                };
                reclaims.push((customer_id, owner, item));
            }
        }
    }
    if !dry && !reclaims.is_empty() {
        let changes: Vec<OwnerChange<'_>> = reclaims
            .iter()
            .map(|(customer_id, owner, item)| {
                let after = pool.reclaim_after_days.get(&item.tier).copied().unwrap_or(0);
                OwnerChange {
                    customer_id,
                    from: Some(owner),
                    to: None,
                    reason: Some(format!(
                        "reclaimed to the pool: no real follow-up for {} days ({} tier reclaims after {after})",
                        item.idle_days, item.tier
                    )),
                }
            })
            .collect();
        change_owners(
            write,
            &changes,
            ChangeReason {
                at: now,
                actor: "system:reclaim",
                reason: "reclaimed to the pool",
                reason_kind: "reclaim",
            },
        )
        .await?;
        for change in &changes {
            let Some(owner) = change.from else {
                continue;
            };
            notify(
                write,
                &NewNotification {
                    recipient: Some(owner),
                    kind: "reclaimed",
                    customer_id: Some(change.customer_id),
                    transfer_id: None,
                    text: format!(
                        "customer {} went back to the pool: {}; you cannot claim it again for {} days",
                        change.customer_id,
                        change.reason.as_deref().unwrap_or_default(),
                        pool.cooldown_days
                    ),
                    once_key: None,
                },
                now,
                policy_has_webhook(policy),
            )
            .await?;
        }
    }
    summary.reclaimed = reclaims.into_iter().map(|(_, _, item)| item).collect();
    Ok(summary)
}

async fn warned_before(source: &mut impl Connected, key: &str) -> StoreResult<bool> {
    let found: i64 = on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT COUNT(*) FROM notifications WHERE dedup_key = ", bind(key))
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?
    });
    Ok(found > 0)
}

/// Whether notifications are queued for a webhook.
pub(crate) fn policy_has_webhook(policy: &ValuePolicy) -> bool {
    policy.notify.webhook_url.is_some()
}
