//! The ownership lifecycle: what a caller sees (`View`), changing owners with their events and
//! loads in one step, and the modules for the pool (claims, releases, reclaim), transfers with
//! approval and hand-over, departures, and notifications.

pub(crate) mod claims;
pub mod conflicts;
pub mod notifications;
pub mod pool;
pub mod rebalance;
pub mod transfers;

use std::collections::HashSet;

use allot_core::access::Principal;
use allot_core::{Clock, Customer, CustomerId, RepId};
use chrono::{DateTime, Duration, Utc};

use crate::customers::load_customers;
use crate::customers::write::recount_rep_loads;
use crate::database::bulk::{update_rows, Kind, Transfer, UpdateRows, Value};
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::events::{record_ownership_events, NewOwnershipEvent};
use crate::{Store, StoredTime, WriteTransaction};

/// The customers a caller sees: those of `reps` (all when `None`), the pool, and for
/// `handover_read_days` after a hand-over those the caller's reps gave away.
#[derive(Debug, Clone)]
pub struct View {
    pub reps: Option<Vec<String>>,
    /// Hand-overs accepted after this still give the old owner read access.
    pub handover_since: DateTime<Utc>,
}

impl View {
    /// The view's reps as the statements bind them; `None` for everything.
    pub(crate) fn rep_list(view: Option<&View>) -> Option<Vec<&str>> {
        view.and_then(|view| view.reps.as_ref())
            .map(|reps| reps.iter().map(String::as_str).collect())
    }

    /// Everything: admins and the system.
    pub fn everything(clock: Clock) -> View {
        View {
            reps: None,
            handover_since: clock.now(),
        }
    }

    pub fn is_everything(&self) -> bool {
        self.reps.is_none()
    }

    /// Whether a customer with this owner is in view, hand-overs aside.
    pub(crate) fn sees_owner(&self, owner: Option<&RepId>) -> bool {
        match (&self.reps, owner) {
            (None, _) | (_, None) => true,
            (Some(reps), Some(owner)) => reps.iter().any(|rep| rep == owner.as_str()),
        }
    }
}

/// Appends ` AND (customer in view)` for the customer whose id and owner are the columns
/// `$id` and `$owner`: its owner is one of the view's reps, it is in the pool, or one of them
/// handed it over recently. Nothing for an unrestricted view. `$view` is an `Option<&View>`,
/// `$reps` the view's reps as `Option<&[&str]>` (borrowed for as long as the statement).
macro_rules! push_in_view {
    ($query:ident, $view:expr, $reps:expr, $id:literal, $owner:literal) => {{
        if let (Some(view), Some(reps)) = ($view, $reps) {
            $query.push(concat!(" AND (", $owner, " IS NULL OR "));
            $crate::database::TextList::push_in_list(&mut $query, $owner, reps);
            $query.push(concat!(
                " OR ",
                $id,
                " IN (SELECT handed.customer_id FROM transfer_customers AS handed",
                " JOIN transfers AS given ON given.id = handed.transfer_id",
                " WHERE given.state = 'accepted' AND given.closed_at >= "
            ));
            $query.push_bind($crate::StoredTime(view.handover_since));
            $query.push(" AND ");
            $crate::database::TextList::push_in_list(&mut $query, "given.from_rep_id", reps);
            $query.push("))");
        }
    }};
}

/// The values [`push_in_view!`] binds, in its order, as text: for reads on SQLite's own handle
/// (`database::direct`), which take the statement's text and its values apart. Empty for an
/// unrestricted view.
pub(crate) fn in_view_values(view: Option<&View>, reps: Option<&[&str]>) -> Vec<String> {
    let (Some(view), Some(reps)) = (view, reps) else {
        return Vec::new();
    };
    let mut values: Vec<String> = reps.iter().map(|rep| rep.to_string()).collect();
    values.push(crate::StoredTime(view.handover_since).text());
    values.extend(reps.iter().map(|rep| rep.to_string()));
    values
}

/// Appends ` AND` the customer `$customer` names is in view, for tables that name a customer.
/// A correlated `EXISTS` over the customer's own row costs one key lookup per row of the outer
/// table, where `IN (customers in view)` built the whole view first: a manager of half the
/// organisation made every list pay for tens of thousands of customers.
macro_rules! push_customer_in_view {
    ($query:ident, $view:expr, $reps:expr, $customer:literal) => {{
        if $reps.is_some() {
            $query.push(concat!(
                " AND EXISTS (SELECT 1 FROM customers AS viewed WHERE viewed.id = ",
                $customer
            ));
            $crate::lifecycle::push_in_view!($query, $view, $reps, "viewed.id", "viewed.owner_id");
            $query.push(")");
        }
    }};
}
pub(crate) use push_customer_in_view;
pub(crate) use push_in_view;

/// One change of owner to make.
#[derive(Debug, Clone)]
pub(crate) struct OwnerChange<'a> {
    pub customer_id: &'a CustomerId,
    pub from: Option<&'a RepId>,
    pub to: Option<&'a RepId>,
    /// Words for this change's event instead of the batch's.
    pub reason: Option<String>,
}

/// Why a batch of owners changes, as its events say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChangeReason<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub reason: &'a str,
    pub reason_kind: &'a str,
}

/// Changes owners, each only if it still has the owner the caller saw (so two racing steps
/// cannot both win), recounts the loads of every rep involved and writes one event per change,
/// all in the caller's transaction.
pub(crate) async fn change_owners(
    write: &mut WriteTransaction,
    changes: &[OwnerChange<'_>],
    why: ChangeReason<'_>,
) -> StoreResult<()> {
    let changes: Vec<(OwnerChange<'_>, ChangeReason<'_>)> =
        changes.iter().map(|change| (change.clone(), why)).collect();
    change_owners_each(write, &changes).await
}

/// [`change_owners`] where each change has its own time, actor and reason (claims committed
/// together, each by its own caller).
pub(crate) async fn change_owners_each(
    write: &mut WriteTransaction,
    changes: &[(OwnerChange<'_>, ChangeReason<'_>)],
) -> StoreResult<()> {
    // Many rows per statement (a departure or a reclaim moves thousands), each changed only if
    // it still has the owner the step saw.
    let rows: Vec<Vec<Value<'_>>> = changes
        .iter()
        .map(|(change, why)| {
            vec![
                Value::Text(change.customer_id.as_str()),
                Value::text(change.from.map(RepId::as_str)),
                Value::text(change.to.map(RepId::as_str)),
                Value::Timestamp(why.at),
            ]
        })
        .collect();
    let changed = update_rows(
        write.connection(),
        &UpdateRows {
            table: "customers",
            key: &[("id", Kind::Text)],
            still: Some(("owner_id", Kind::Text)),
            set: &[("owner_id", Kind::Text), ("updated_at", Kind::Timestamp)],
            rows: &rows,
            only_if: None,
            caller_fails_unless_every_row_changes: true,
        },
    )
    .await?;
    if changed != rows.len() as u64 {
        let ids: Vec<&str> = changes
            .iter()
            .map(|(change, _)| change.customer_id.as_str())
            .collect();
        // The rows changed have their new owners now; the one left behind does not.
        let now = load_customers(&mut *write, &ids).await?;
        let moved = changes
            .iter()
            .find(|(change, _)| {
                now.get(change.customer_id.as_str())
                    .is_none_or(|customer| customer.owner_id.as_ref() != change.to)
            })
            .map_or_else(
                || "a customer".to_string(),
                |(change, _)| format!("customer {}", change.customer_id),
            );
        return Err(StoreError::Conflict {
            message: format!("{moved} changed owner while this step was made; nothing was written"),
            field: Some("owner_id".to_string()),
        });
    }
    let reps: HashSet<&str> = changes
        .iter()
        .flat_map(|(change, _)| [change.from, change.to])
        .flatten()
        .map(RepId::as_str)
        .collect();
    recount_rep_loads(write, &reps).await?;
    let events: Vec<NewOwnershipEvent<'_>> = changes
        .iter()
        .map(|(change, why)| NewOwnershipEvent {
            at: why.at,
            customer_id: change.customer_id,
            from: change.from,
            to: change.to,
            actor: why.actor,
            reason: change.reason.as_deref().unwrap_or(why.reason),
            reason_kind: why.reason_kind,
            rule: None,
        })
        .collect();
    record_ownership_events(write, &events, Transfer::for_rows(events.len())).await
}

/// The start of the clock's calendar day, as an instant.
pub(crate) fn start_of_today(clock: Clock) -> DateTime<Utc> {
    clock.end_of_today() - Duration::days(1)
}

impl Store {
    /// What `principal` sees as of the clock.
    pub async fn view_of(&self, principal: &Principal, clock: Clock) -> StoreResult<View> {
        let Some(reps) = principal.visible_reps() else {
            return Ok(View::everything(clock));
        };
        let mut connection = self.database.acquire().await?;
        let policy = self.policy_in(&mut connection).await?.1;
        Ok(View {
            reps: Some(reps.iter().map(|rep| rep.to_string()).collect()),
            handover_since: clock.now() - Duration::days(i64::from(policy.pool.handover_read_days)),
        })
    }

    /// A customer the view sees; one it does not see is "not found", as if it did not exist.
    pub async fn customer_in_view(&self, view: &View, id: &CustomerId) -> StoreResult<Customer> {
        let mut connection = self.database.acquire().await?;
        customer_in_view_in(&mut connection, view, id).await
    }
}

/// [`Store::customer_in_view`] inside a transaction.
pub(crate) async fn customer_in_view_in(
    source: &mut impl Connected,
    view: &View,
    id: &CustomerId,
) -> StoreResult<Customer> {
    let not_found = || StoreError::NotFound {
        entity: "customer",
        id: id.to_string(),
    };
    let customer = load_customers(source, &[id.as_str()])
        .await?
        .remove(id.as_str())
        .ok_or_else(not_found)?;
    if view.sees_owner(customer.owner_id.as_ref()) {
        return Ok(customer);
    }
    let reps: Vec<&str> = view.reps.iter().flatten().map(String::as_str).collect();
    let handed: i64 = on_backend!(source, |connection, Db| {
        let mut query = sql!(Db; "SELECT COUNT(*) FROM transfer_customers AS handed JOIN transfers AS given ON given.id = handed.transfer_id",
            " WHERE handed.customer_id = ", bind(id.as_str()), " AND given.state = 'accepted' AND given.closed_at >= ",
            bind(StoredTime(view.handover_since)), " AND ");
        crate::database::TextList::push_in_list(&mut query, "given.from_rep_id", &reps);
        query
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?
    });
    if handed > 0 {
        Ok(customer)
    } else {
        Err(not_found())
    }
}
