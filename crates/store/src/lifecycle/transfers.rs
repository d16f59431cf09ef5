//! Transfers (转移) with approval and hand-over (交接): requested, approved by the chain of
//! managers the policy asks for, accepted by the new owner (only then does the owner change,
//! with its events), or rejected, declined or cancelled; and departures, which move every
//! customer of a leaving rep in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use allot_core::access::{approval_chain, Principal};
use allot_core::pool::{TransferReason, TransferState};
use allot_core::rules::RuleSet;
use allot_core::{Clock, Customer, CustomerId, RepId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use super::notifications::{notify, NewNotification};
use super::pool::policy_has_webhook;
use super::{change_owners, ChangeReason, OwnerChange};
use crate::customers::load_customers;
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::organisation::load_teams_and_reps;
use crate::{Store, StoredTime, WriteTransaction};

/// Where a transfer sends its customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    Rep(RepId),
    /// Routed by the rules when the last approval is given.
    Rules,
}

/// A transfer as asked for.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub customer_ids: Vec<CustomerId>,
    pub from: RepId,
    pub to: TransferTarget,
    pub reason_kind: TransferReason,
    pub text: String,
}

/// One step of a transfer's history.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferStep {
    pub at: String,
    pub actor: String,
    /// requested, approved, rejected, accepted, declined, cancelled, repointed.
    pub action: String,
    pub comment: String,
}

/// A transfer, with what it still waits for.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferDocument {
    pub id: i64,
    /// requested, approved, accepted, rejected, declined or cancelled.
    pub state: String,
    pub customer_ids: Vec<String>,
    pub from: String,
    /// A rep id, or `rules`.
    pub to: String,
    pub reason_kind: String,
    pub text: String,
    pub requested_by: String,
    pub requested_at: String,
    /// The approver of each level in order (null: an admin, as no manager is there).
    pub approvers: Vec<Option<String>>,
    pub approvals_given: i64,
    /// The approvals it still needs, in order (`rep:e1` or `admin`).
    pub approvals_needed: Vec<String>,
    /// Who must act next: `approver:rep:e1`, `approver:admin`, `new_owner:rep:r12`, or null
    /// once closed.
    pub waiting_for: Option<String>,
    /// The hand-over checklist, made on approval.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub handover: Option<serde_json::Value>,
    pub steps: Vec<TransferStep>,
    pub closed_at: Option<String>,
}

#[derive(sqlx_macros::FromRow)]
struct TransferRow {
    id: i64,
    state: String,
    from_rep_id: String,
    to_rep_id: Option<String>,
    reason_kind: String,
    text: String,
    requested_by: String,
    requested_at: StoredTime,
    approvers: Json<Vec<Option<String>>>,
    approvals_given: i64,
    handover: Option<Json<serde_json::Value>>,
    closed_at: Option<StoredTime>,
}

const TRANSFER_COLUMNS: &str = "id, state, from_rep_id, to_rep_id, reason_kind, text, requested_by, requested_at, approvers, approvals_given, handover, closed_at";

impl TransferRow {
    fn state(&self) -> StoreResult<TransferState> {
        TransferState::parse_field("state", &self.state)
            .map_err(|error| StoreError::Corrupt(error.to_string()))
    }

    /// The approver the transfer waits for now, when it waits for one: `Some(None)` is an admin.
    fn next_approver(&self) -> Option<Option<&str>> {
        if self.state != TransferState::Requested.as_str() {
            return None;
        }
        let index = usize::try_from(self.approvals_given).ok()?;
        self.approvers.0.get(index).map(Option::as_deref)
    }

    fn may_approve(&self, principal: &Principal) -> bool {
        match self.next_approver() {
            None => false,
            Some(None) => principal.is_admin(),
            Some(Some(approver)) => principal.rep().is_some_and(|rep| rep.as_str() == approver),
        }
    }

    fn is_new_owner(&self, principal: &Principal) -> bool {
        principal
            .rep()
            .is_some_and(|rep| self.to_rep_id.as_deref() == Some(rep.as_str()))
    }

    /// Whether `principal` may see the transfer at all.
    fn in_view(&self, principal: &Principal) -> bool {
        let sees = |rep: &str| RepId::parse(rep).is_ok_and(|rep| principal.sees_rep(&rep));
        principal.is_admin()
            || sees(&self.from_rep_id)
            || self.to_rep_id.as_deref().is_some_and(sees)
            || self.requested_by == principal.actor()
            || self
                .approvers
                .0
                .iter()
                .flatten()
                .any(|approver| principal.rep().is_some_and(|rep| rep.as_str() == approver))
    }
}

/// Filters of the transfer inbox.
#[derive(Debug, Clone, Default)]
pub struct TransferFilter {
    pub state: Option<TransferState>,
    /// `approver`: waiting for the caller's approval; `new_owner`: waiting for the caller's
    /// acceptance.
    pub role: Option<InboxRole>,
    pub customer_id: Option<CustomerId>,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxRole {
    Approver,
    NewOwner,
}

/// The open transfer holding a customer, if any.
pub(crate) async fn open_transfer_of(
    source: &mut impl Connected,
    customer_id: &CustomerId,
) -> StoreResult<Option<i64>> {
    Ok(on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT transfer_id FROM transfer_customers WHERE is_open AND customer_id = ", bind(customer_id.as_str()))
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
    }))
}

async fn load_transfer(source: &mut impl Connected, id: i64) -> StoreResult<Option<TransferRow>> {
    Ok(on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = "), bind(id))
            .build_query_as()
            .fetch_optional(&mut *connection)
            .await?
    }))
}

async fn transfer_customers(source: &mut impl Connected, id: i64) -> StoreResult<Vec<String>> {
    Ok(on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT customer_id FROM transfer_customers WHERE transfer_id = ", bind(id),
            format!(" ORDER BY {}", <Db as crate::database::Dialect>::byte_order("customer_id")))
        .build_query_scalar()
        .fetch_all(&mut *connection)
        .await?
    }))
}

async fn document(source: &mut impl Connected, row: TransferRow) -> StoreResult<TransferDocument> {
    let customer_ids = transfer_customers(source, row.id).await?;
    let steps: Vec<(StoredTime, String, String, String)> = on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT at, actor, action, comment FROM transfer_steps WHERE transfer_id = ", bind(row.id), " ORDER BY id")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
    });
    let given = usize::try_from(row.approvals_given).unwrap_or(0);
    let name = |approver: &Option<String>| {
        approver
            .as_ref()
            .map_or_else(|| "admin".to_string(), |rep| format!("rep:{rep}"))
    };
    let state = row.state()?;
    let approvals_needed: Vec<String> = if state == TransferState::Requested {
        row.approvers.0.iter().skip(given).map(name).collect()
    } else {
        Vec::new()
    };
    let waiting_for = match state {
        TransferState::Requested => approvals_needed
            .first()
            .map(|next| format!("approver:{next}")),
        TransferState::Approved => row
            .to_rep_id
            .as_ref()
            .map(|rep| format!("new_owner:rep:{rep}")),
        _ => None,
    };
    Ok(TransferDocument {
        id: row.id,
        state: row.state,
        customer_ids,
        from: row.from_rep_id,
        to: row.to_rep_id.unwrap_or_else(|| "rules".to_string()),
        reason_kind: row.reason_kind,
        text: row.text,
        requested_by: row.requested_by,
        requested_at: row.requested_at.text(),
        approvers: row.approvers.0,
        approvals_given: row.approvals_given,
        approvals_needed,
        waiting_for,
        handover: row.handover.map(|json| json.0),
        steps: steps
            .into_iter()
            .map(|(at, actor, action, comment)| TransferStep {
                at: at.text(),
                actor,
                action,
                comment,
            })
            .collect(),
        closed_at: row.closed_at.map(StoredTime::text),
    })
}

async fn record_step(
    source: &mut impl Connected,
    id: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    comment: &str,
) -> StoreResult<()> {
    on_backend!(source, |connection, Db| {
        sql!(Db; "INSERT INTO transfer_steps (transfer_id, at, actor, action, comment) VALUES (", bind(id), ", ",
            bind(StoredTime(at)), ", ", bind(actor), ", ", bind(action), ", ", bind(comment), ")")
        .build()
        .execute(&mut *connection)
        .await?;
    });
    Ok(())
}

/// Moves a transfer to `state`; a closed state frees its customers and records when.
async fn set_state(
    source: &mut impl Connected,
    id: i64,
    state: TransferState,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let closed = (!state.is_open()).then_some(StoredTime(at));
    on_backend!(source, |connection, Db| {
        sql!(Db; "UPDATE transfers SET state = ", bind(state.as_str()), ", updated_at = ", bind(StoredTime(at)),
            ", closed_at = ", bind(closed), " WHERE id = ", bind(id))
        .build()
        .execute(&mut *connection)
        .await?;
        if !state.is_open() {
            sql!(Db; "UPDATE transfer_customers SET is_open = ", bind(false), " WHERE transfer_id = ", bind(id))
                .build()
                .execute(&mut *connection)
                .await?;
        }
    });
    Ok(())
}

/// The hand-over checklist for the new owner: each customer's history in brief (purchases,
/// last interactions, open tickets), the open tasks, and the old owner's notes.
async fn handover_checklist(
    source: &mut impl Connected,
    customers: &[String],
    from: &str,
    notes: &str,
    now: DateTime<Utc>,
) -> StoreResult<serde_json::Value> {
    type Purchases = (String, i64, Option<i64>, Option<StoredTime>);
    type Touch = (String, StoredTime, String, String, String);
    type OpenTicket = (String, String, String, String);
    let mut entries = Vec::with_capacity(customers.len());
    // Three statements per chunk rather than three per customer: a departure hands over a
    // whole book, and each round trip to PostgreSQL costs more than the row it reads.
    for chunk in customers.chunks(500) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let (purchases, touches, tickets) = on_backend!(source, |connection, Db| {
            let mut query = sql!(Db; "SELECT customer_id, COUNT(*), CAST(SUM(amount_minor) AS BIGINT), MAX(at) FROM transactions WHERE ");
            crate::database::TextList::push_in_list(&mut query, "customer_id", &ids);
            query
                .push(" AND at <= ")
                .push_bind(StoredTime(now))
                .push(" GROUP BY customer_id");
            let purchases: Vec<Purchases> =
                query.build_query_as().fetch_all(&mut *connection).await?;
            let mut query = sql!(Db; "SELECT customer_id, at, rep_id, kind, outcome FROM (SELECT customer_id, at, rep_id, kind, outcome, ",
                "ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY at DESC) AS newest FROM interactions WHERE ");
            crate::database::TextList::push_in_list(&mut query, "customer_id", &ids);
            query
                .push(" AND at <= ")
                .push_bind(StoredTime(now))
                .push(") AS ranked WHERE newest <= 3 ORDER BY customer_id, newest");
            let touches: Vec<Touch> = query.build_query_as().fetch_all(&mut *connection).await?;
            let mut query =
                sql!(Db; "SELECT customer_id, id, severity, subject FROM tickets WHERE ");
            crate::database::TextList::push_in_list(&mut query, "customer_id", &ids);
            query.push(" AND closed_at IS NULL ORDER BY customer_id, opened_at, id");
            let tickets: Vec<OpenTicket> =
                query.build_query_as().fetch_all(&mut *connection).await?;
            (purchases, touches, tickets)
        });
        let mut purchases: HashMap<String, (i64, Option<i64>, Option<StoredTime>)> = purchases
            .into_iter()
            .map(|(customer, count, spent, last)| (customer, (count, spent, last)))
            .collect();
        let mut last_interactions: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
        for (customer, at, rep, kind, outcome) in touches {
            last_interactions
                .entry(customer)
                .or_default()
                .push(serde_json::json!({
                    "at": at.text(), "rep_id": rep, "kind": kind, "outcome": outcome,
                }));
        }
        let mut open_tasks: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
        for (customer, id, severity, subject) in tickets {
            open_tasks
                .entry(customer)
                .or_default()
                .push(serde_json::json!({
                    "ticket_id": id, "severity": severity, "subject": subject,
                }));
        }
        for customer in chunk {
            let (count, spent, last_purchase) =
                purchases.remove(customer).unwrap_or((0, None, None));
            entries.push(serde_json::json!({
                "customer_id": customer,
                "purchases": count,
                "spent_minor": spent.unwrap_or(0),
                "last_purchase_at": last_purchase.map(StoredTime::text),
                "last_interactions": last_interactions.remove(customer).unwrap_or_default(),
                "open_tasks": open_tasks.remove(customer).unwrap_or_default(),
            }));
        }
    }
    Ok(serde_json::json!({
        "from": from,
        "notes": notes,
        "customers": entries,
    }))
}

/// The teams and reps a transfer's approvals are drawn from, read once per transaction by
/// whoever opens transfers: the overload job opens one per pair of reps, and read the whole
/// organisation again for each (a third of a day's `tick` over 1,000,000 customers).
pub(crate) struct ApprovalOrganisation {
    teams: Vec<allot_core::Team>,
    reps: Vec<allot_core::Rep>,
}

impl ApprovalOrganisation {
    pub(crate) async fn load(source: &mut impl Connected) -> StoreResult<ApprovalOrganisation> {
        let (teams, reps) = load_teams_and_reps(source).await?;
        Ok(ApprovalOrganisation {
            teams,
            reps: reps.into_iter().map(|state| state.rep).collect(),
        })
    }
}

impl Store {
    /// Requests a transfer: reps of their own customers, managers of their subtree's, admins
    /// any. The approvals it needs come from the policy (the strictest over its customers'
    /// tiers) and the team tree; a requester who is itself the next approver has approved.
    pub async fn request_transfer(
        &self,
        principal: &Principal,
        request: &TransferRequest,
        clock: Clock,
    ) -> StoreResult<TransferDocument> {
        let text = allot_core::text::parse_text("text", &request.text)?;
        if request.customer_ids.is_empty() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "customer_ids",
                "name at least one customer",
            )));
        }
        if request.customer_ids.len() > 10_000 {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "customer_ids",
                "at most 10,000 customers per transfer",
            )));
        }
        let unique: HashSet<&CustomerId> = request.customer_ids.iter().collect();
        if unique.len() != request.customer_ids.len() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "customer_ids",
                "a customer is named twice",
            )));
        }
        if !principal.sees_rep(&request.from) {
            return Err(StoreError::Forbidden(format!(
                "you may request transfers of your own customers only, not of {}",
                request.from
            )));
        }
        let view = self.view_of(principal, clock).await?;
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let organisation = ApprovalOrganisation::load(&mut write).await?;
        let id = self
            .request_transfer_in(
                &mut write,
                principal,
                &view,
                &policy,
                &organisation,
                request,
                &text,
                clock,
            )
            .await?;
        let row = load_transfer(&mut write, id)
            .await?
            .ok_or_else(|| transfer_not_found(id))?;
        let document = document(&mut write, row).await?;
        write.commit().await?;
        Ok(document)
    }

    /// Opens a transfer in the caller's transaction (see [`Store::request_transfer`]); returns
    /// its id. `organisation`: read by the caller in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn request_transfer_in(
        &self,
        write: &mut WriteTransaction,
        principal: &Principal,
        view: &super::View,
        policy: &allot_core::value::ValuePolicy,
        organisation: &ApprovalOrganisation,
        request: &TransferRequest,
        text: &str,
        clock: Clock,
    ) -> StoreResult<i64> {
        let now = clock.now();
        let ApprovalOrganisation { teams, reps } = organisation;
        if let TransferTarget::Rep(to) = &request.to {
            let target = reps.iter().find(|rep| &rep.id == to).ok_or_else(|| {
                StoreError::Invalid(allot_core::FieldError::new(
                    "to",
                    format!("rep '{to}' does not exist"),
                ))
            })?;
            if !target.active {
                return Err(StoreError::Invalid(allot_core::FieldError::new(
                    "to",
                    format!("rep '{to}' is inactive"),
                )));
            }
            if to == &request.from {
                return Err(StoreError::Invalid(allot_core::FieldError::new(
                    "to",
                    "the new owner is the current owner",
                )));
            }
        }
        let ids: Vec<&str> = request
            .customer_ids
            .iter()
            .map(CustomerId::as_str)
            .collect();
        let customers = load_customers(&mut *write, &ids).await?;
        let mut tiers = Vec::with_capacity(ids.len());
        for id in &request.customer_ids {
            let customer = customers
                .get(id.as_str())
                .filter(|customer| view.sees_owner(customer.owner_id.as_ref()))
                .ok_or_else(|| StoreError::NotFound {
                    entity: "customer",
                    id: id.to_string(),
                })?;
            if customer.owner_id.as_ref() != Some(&request.from) {
                return Err(StoreError::Denied {
                    code: "not_owner",
                    message: format!("customer {id} is not owned by {}", request.from),
                });
            }
            if let Some(open) = open_transfer_of(&mut *write, id).await? {
                return Err(StoreError::Denied {
                    code: "open_transfer",
                    message: format!("customer {id} already has open transfer {open}"),
                });
            }
            tiers.push(customer.tier.as_ref().map(|tier| tier.as_str().to_string()));
        }
        let approval = policy
            .pool
            .approval_for(tiers.iter().map(|tier| tier.as_deref()));
        let approvers: Vec<Option<String>> =
            approval_chain(&request.from, approval.levels(), teams, reps)
                .into_iter()
                .map(|approver| approver.map(|rep| rep.to_string()))
                .collect();
        let actor = principal.actor();
        let to = match &request.to {
            TransferTarget::Rep(rep) => Some(rep.as_str()),
            TransferTarget::Rules => None,
        };
        let id: i64 = on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "INSERT INTO transfers (state, from_rep_id, to_rep_id, reason_kind, text, requested_by, requested_at, approvers, updated_at) VALUES (",
                bind(TransferState::Requested.as_str()), ", ", bind(request.from.as_str()), ", ", bind(to), ", ",
                bind(request.reason_kind.as_str()), ", ", bind(text), ", ", bind(actor.as_str()), ", ",
                bind(StoredTime(now)), ", ", bind(Json(&approvers)), ", ", bind(StoredTime(now)), ") RETURNING id")
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?
        });
        for customer in &request.customer_ids {
            on_backend!(&mut *write, |connection, Db| {
                sql!(Db; "INSERT INTO transfer_customers (transfer_id, customer_id, is_open) VALUES (", bind(id), ", ",
                    bind(customer.as_str()), ", ", bind(true), ")")
                .build()
                .execute(&mut *connection)
                .await?;
            });
        }
        record_step(&mut *write, id, now, &actor, "requested", text).await?;
        let row = load_transfer(&mut *write, id)
            .await?
            .ok_or_else(|| transfer_not_found(id))?;
        // A manager asking for a transfer it would approve has approved it by asking.
        if row.may_approve(principal) && principal.rep().is_some() {
            self.approve_in(
                write,
                principal,
                row,
                "approved by requesting",
                clock,
                policy,
            )
            .await?;
        } else {
            notify_next_approver(write, &row, now, policy).await?;
        }
        Ok(id)
    }

    /// One transfer, if the caller may see it.
    pub async fn get_transfer(
        &self,
        principal: &Principal,
        id: i64,
    ) -> StoreResult<TransferDocument> {
        let mut connection = self.database.acquire().await?;
        let row = load_transfer(&mut connection, id)
            .await?
            .filter(|row| row.in_view(principal))
            .ok_or_else(|| transfer_not_found(id))?;
        document(&mut connection, row).await
    }

    /// Transfers the caller may see, newest first, narrowed by the filter (the inbox).
    pub async fn list_transfers(
        &self,
        principal: &Principal,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<TransferDocument>> {
        let mut connection = self.database.acquire().await?;
        let rows: Vec<TransferRow> = on_backend!(&mut connection, |connection, Db| {
            let mut query =
                sql!(Db; format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE 1 = 1"));
            if let Some(state) = filter.state {
                query.push(" AND state = ").push_bind(state.as_str());
            }
            if let Some(customer) = &filter.customer_id {
                query
                    .push(" AND id IN (SELECT transfer_id FROM transfer_customers WHERE customer_id = ")
                    .push_bind(customer.as_str())
                    .push(")");
            }
            query.push(" ORDER BY id DESC");
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        let mut documents = Vec::new();
        for row in rows {
            let wanted = row.in_view(principal)
                && match filter.role {
                    None => true,
                    Some(InboxRole::Approver) => row.may_approve(principal),
                    Some(InboxRole::NewOwner) => {
                        row.state == TransferState::Approved.as_str() && row.is_new_owner(principal)
                    }
                };
            if wanted {
                documents.push(document(&mut connection, row).await?);
                if documents.len() as i64 >= filter.limit.clamp(1, 1000) {
                    break;
                }
            }
        }
        Ok(documents)
    }

    /// Gives the approval the transfer waits for; after the last one the hand-over checklist is
    /// made for the new owner (a transfer to `rules` is routed and takes effect at once).
    pub async fn approve_transfer(
        &self,
        principal: &Principal,
        id: i64,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<TransferDocument> {
        let comment = allot_core::text::parse_text("comment", comment)?;
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let row = self
            .acting_on(&mut write, principal, id, TransferState::Requested)
            .await?;
        if !row.may_approve(principal) {
            return Err(not_yours(&row, "approver"));
        }
        self.approve_in(&mut write, principal, row, &comment, clock, &policy)
            .await?;
        finish(write, id).await
    }

    /// Rejects the transfer it waits for the caller to approve; nothing else changes.
    pub async fn reject_transfer(
        &self,
        principal: &Principal,
        id: i64,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<TransferDocument> {
        let comment = allot_core::text::parse_text("comment", comment)?;
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let row = self
            .acting_on(&mut write, principal, id, TransferState::Requested)
            .await?;
        if !row.may_approve(principal) {
            return Err(not_yours(&row, "approver"));
        }
        let now = clock.now();
        set_state(&mut write, id, TransferState::Rejected, now).await?;
        record_step(
            &mut write,
            id,
            now,
            &principal.actor(),
            "rejected",
            &comment,
        )
        .await?;
        tell(
            &mut write,
            Some(&row.from_rep_id),
            "transfer_rejected",
            id,
            format!(
                "transfer {id} was rejected by {}: {comment}",
                principal.actor()
            ),
            now,
            &policy,
        )
        .await?;
        finish(write, id).await
    }

    /// The new owner accepts the hand-over: only now do the owners change, with their events.
    pub async fn accept_transfer(
        &self,
        principal: &Principal,
        id: i64,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<TransferDocument> {
        let comment = allot_core::text::parse_text("comment", comment)?;
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let row = self
            .acting_on(&mut write, principal, id, TransferState::Approved)
            .await?;
        if !row.is_new_owner(principal) {
            return Err(not_yours(&row, "new owner"));
        }
        let now = clock.now();
        let to = rep_id(row.to_rep_id.as_deref().unwrap_or_default())?;
        let from = rep_id(&row.from_rep_id)?;
        let customers = transfer_customers(&mut write, id).await?;
        let customer_ids: Vec<CustomerId> = customers
            .iter()
            .map(|id| CustomerId::parse(id).map_err(|error| StoreError::Corrupt(error.to_string())))
            .collect::<StoreResult<_>>()?;
        let changes: Vec<OwnerChange<'_>> = customer_ids
            .iter()
            .map(|customer_id| OwnerChange {
                customer_id,
                from: Some(&from),
                to: Some(&to),
                reason: None,
            })
            .collect();
        let reason = format!("transfer {id} ({}): {}", row.reason_kind, row.text);
        change_owners(
            &mut write,
            &changes,
            ChangeReason {
                at: now,
                actor: &principal.actor(),
                reason: &reason,
                reason_kind: &row.reason_kind,
            },
        )
        .await?;
        set_state(&mut write, id, TransferState::Accepted, now).await?;
        record_step(
            &mut write,
            id,
            now,
            &principal.actor(),
            "accepted",
            &comment,
        )
        .await?;
        tell(
            &mut write,
            Some(&row.from_rep_id),
            "transfer_accepted",
            id,
            format!("{to} accepted the hand-over of transfer {id}"),
            now,
            &policy,
        )
        .await?;
        finish(write, id).await
    }

    /// The new owner declines: the transfer closes and goes back to its approvers.
    pub async fn decline_transfer(
        &self,
        principal: &Principal,
        id: i64,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<TransferDocument> {
        let comment = allot_core::text::parse_text("comment", comment)?;
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let row = self
            .acting_on(&mut write, principal, id, TransferState::Approved)
            .await?;
        if !row.is_new_owner(principal) {
            return Err(not_yours(&row, "new owner"));
        }
        let now = clock.now();
        set_state(&mut write, id, TransferState::Declined, now).await?;
        record_step(
            &mut write,
            id,
            now,
            &principal.actor(),
            "declined",
            &comment,
        )
        .await?;
        let mut told: Vec<Option<&str>> = row.approvers.0.iter().map(Option::as_deref).collect();
        told.push(Some(&row.from_rep_id));
        told.dedup();
        for recipient in told {
            tell(
                &mut write,
                recipient,
                "transfer_declined",
                id,
                format!(
                    "{} declined the hand-over of transfer {id}: {comment}",
                    principal.actor()
                ),
                now,
                &policy,
            )
            .await?;
        }
        finish(write, id).await
    }

    /// The requester (or an admin) withdraws an open transfer.
    pub async fn cancel_transfer(
        &self,
        principal: &Principal,
        id: i64,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<TransferDocument> {
        let comment = allot_core::text::parse_text("comment", comment)?;
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let row = load_transfer(&mut write, id)
            .await?
            .filter(|row| row.in_view(principal))
            .ok_or_else(|| transfer_not_found(id))?;
        if !principal.is_admin() && row.requested_by != principal.actor() {
            return Err(StoreError::Forbidden(format!(
                "only {} (who requested it) or an admin may cancel transfer {id}",
                row.requested_by
            )));
        }
        if !row.state()?.is_open() {
            return Err(closed(&row));
        }
        let now = clock.now();
        set_state(&mut write, id, TransferState::Cancelled, now).await?;
        record_step(
            &mut write,
            id,
            now,
            &principal.actor(),
            "cancelled",
            &comment,
        )
        .await?;
        tell(
            &mut write,
            row.to_rep_id.as_deref(),
            "transfer_cancelled",
            id,
            format!("transfer {id} was cancelled by {}", principal.actor()),
            now,
            &policy,
        )
        .await?;
        finish(write, id).await
    }

    /// A transfer the caller can see, in the state the step needs.
    async fn acting_on(
        &self,
        write: &mut WriteTransaction,
        principal: &Principal,
        id: i64,
        wanted: TransferState,
    ) -> StoreResult<TransferRow> {
        let row = load_transfer(write, id)
            .await?
            .filter(|row| row.in_view(principal))
            .ok_or_else(|| transfer_not_found(id))?;
        if row.state()? != wanted {
            return Err(closed(&row));
        }
        Ok(row)
    }

    /// Gives every approval a transfer still waits for, as `principal` (an admin's decision).
    pub(crate) async fn approve_all_levels(
        &self,
        write: &mut WriteTransaction,
        principal: &Principal,
        id: i64,
        comment: &str,
        clock: Clock,
        policy: &allot_core::value::ValuePolicy,
    ) -> StoreResult<()> {
        loop {
            let row = load_transfer(write, id)
                .await?
                .ok_or_else(|| transfer_not_found(id))?;
            if row.next_approver().is_none() {
                return Ok(());
            }
            self.approve_in(write, principal, row, comment, clock, policy)
                .await?;
        }
    }

    async fn approve_in(
        &self,
        write: &mut WriteTransaction,
        principal: &Principal,
        row: TransferRow,
        comment: &str,
        clock: Clock,
        policy: &allot_core::value::ValuePolicy,
    ) -> StoreResult<()> {
        let now = clock.now();
        let id = row.id;
        let given = row.approvals_given + 1;
        on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "UPDATE transfers SET approvals_given = ", bind(given), ", updated_at = ", bind(StoredTime(now)),
                " WHERE id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?;
        });
        record_step(write, id, now, &principal.actor(), "approved", comment).await?;
        let row = load_transfer(write, id)
            .await?
            .ok_or_else(|| transfer_not_found(id))?;
        if row.next_approver().is_some() {
            return notify_next_approver(write, &row, now, policy).await;
        }
        let customers = transfer_customers(write, id).await?;
        let handover =
            handover_checklist(write, &customers, &row.from_rep_id, &row.text, now).await?;
        on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "UPDATE transfers SET handover = ", bind(Json(&handover)), " WHERE id = ", bind(id))
                .build()
                .execute(&mut *connection)
                .await?;
        });
        match &row.to_rep_id {
            Some(to) => {
                set_state(write, id, TransferState::Approved, now).await?;
                tell(write, Some(to), "transfer_approved", id,
                    format!("transfer {id} of {} customers from {} to you is approved: accept the hand-over to take them", customers.len(), row.from_rep_id),
                    now, policy).await?;
            }
            None => {
                // Nobody single to accept: the rules place each customer now.
                let from = rep_id(&row.from_rep_id)?;
                let ids: Vec<CustomerId> = customers
                    .iter()
                    .map(|id| {
                        CustomerId::parse(id)
                            .map_err(|error| StoreError::Corrupt(error.to_string()))
                    })
                    .collect::<StoreResult<_>>()?;
                let reason = format!("transfer {id}: {}", row.text);
                let why = ChangeReason {
                    at: now,
                    actor: &principal.actor(),
                    reason: &reason,
                    reason_kind: &row.reason_kind,
                };
                self.move_by_rules(write, &from, &ids, why, clock).await?;
                set_state(write, id, TransferState::Accepted, now).await?;
                record_step(
                    write,
                    id,
                    now,
                    "system:rules",
                    "accepted",
                    "routed by the rules",
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Moves customers of `from` to the owners the rules give them now (in one transaction,
    /// with the strategy state saved, so round robin continues exactly); a customer no rule
    /// places goes to the pool with that reason.
    pub(crate) async fn move_by_rules(
        &self,
        write: &mut WriteTransaction,
        from: &RepId,
        customer_ids: &[CustomerId],
        why: ChangeReason<'_>,
        clock: Clock,
    ) -> StoreResult<()> {
        let (rules, generation) = self.routing_snapshot(write).await?;
        let (rules_version, rules) = match rules {
            Some((version, rules)) => (Some(version), rules),
            None => (None, Arc::new(RuleSet::default())),
        };
        let mut engine = self
            .engine_for(write, generation, rules_version, &rules, clock)
            .await?;
        let states_before = engine.strategy_states();
        let ids: Vec<&str> = customer_ids.iter().map(CustomerId::as_str).collect();
        let mut customers: HashMap<String, Customer> = load_customers(write, &ids).await?;
        let mut touched = Vec::new();
        let mut decided: Vec<(CustomerId, Option<RepId>, String)> = Vec::new();
        for id in customer_ids {
            let Some(mut customer) = customers.remove(id.as_str()) else {
                continue;
            };
            customer.owner_id = None;
            let decision = engine.route(&customer, None);
            let (record, _) = engine.stored(&decision, &customer);
            match decision.owner_id {
                Some(owner) if &owner == from => {
                    decided.push((id.clone(), Some(owner), record.reason));
                }
                Some(owner) => {
                    touched.push(owner.clone());
                    decided.push((id.clone(), Some(owner), record.reason));
                }
                None => decided.push((id.clone(), None, record.reason)),
            }
        }
        touched.sort();
        touched.dedup();
        // The engine counted its own choices; the recount below makes every load exact, and
        // the engine is not cached (its view of `from` is stale).
        let _ = self
            .save_engine_state(write, engine, rules_version, &touched, &states_before)
            .await?;
        let changes: Vec<OwnerChange<'_>> = decided
            .iter()
            .filter(|(_, owner, _)| owner.as_ref() != Some(from))
            .map(|(customer_id, owner, reason)| OwnerChange {
                customer_id,
                from: Some(from),
                to: owner.as_ref(),
                reason: Some(match owner {
                    Some(_) => format!("{}; routed: {reason}", why.reason),
                    None => format!(
                        "{}; no rule places it, so it goes to the pool: {reason}",
                        why.reason
                    ),
                }),
            })
            .collect();
        change_owners(write, &changes, why).await
    }

    /// A rep leaves (离职): in one transaction every customer goes to `successor` (or by the
    /// rules, the pool for those no rule places) as an accepted `rep_left` transfer with its
    /// hand-over, the rep becomes inactive, its tokens die, its open transfers are cancelled
    /// (those it gave) or re-pointed to the successor (those it was to receive), and its
    /// pending approvals pass to the successor (or to an admin).
    pub async fn deactivate_rep(
        &self,
        principal: &Principal,
        rep: &RepId,
        successor: Option<&RepId>,
        clock: Clock,
    ) -> StoreResult<DepartureSummary> {
        if !principal.is_admin() {
            return Err(StoreError::Forbidden(
                "only an admin deactivates reps".to_string(),
            ));
        }
        let now = clock.now();
        let actor = principal.actor();
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let leaving = crate::organisation::find_rep_in(&mut write, rep)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "rep",
                id: rep.to_string(),
            })?;
        if !leaving.rep.active {
            return Err(StoreError::Refused {
                message: format!("rep {rep} is inactive already"),
                field: Some("id".to_string()),
            });
        }
        if let Some(successor) = successor {
            let next = crate::organisation::find_rep_in(&mut write, successor)
                .await?
                .ok_or_else(|| {
                    StoreError::Invalid(allot_core::FieldError::new(
                        "successor",
                        format!("rep '{successor}' does not exist"),
                    ))
                })?;
            if !next.rep.active || successor == rep {
                return Err(StoreError::Invalid(allot_core::FieldError::new(
                    "successor",
                    format!(
                        "rep '{successor}' cannot take over: it is inactive or the leaving rep"
                    ),
                )));
            }
        }
        // Open transfers first, so the departure's own transfer can hold every customer.
        let open: Vec<OpenTransferRow> = on_backend!(&mut write, |connection, Db| {
            sql!(Db; "SELECT id, from_rep_id, to_rep_id, approvers FROM transfers WHERE state IN ('requested', 'approved')")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?
        });
        let mut summary = DepartureSummary::default();
        for (id, from, to, Json(approvers)) in open {
            if from == rep.as_str() {
                set_state(&mut write, id, TransferState::Cancelled, now).await?;
                record_step(
                    &mut write,
                    id,
                    now,
                    &actor,
                    "cancelled",
                    &format!("{rep} left"),
                )
                .await?;
                summary.transfers_cancelled.push(id);
                continue;
            }
            let mut changed = false;
            if to.as_deref() == Some(rep.as_str()) {
                match successor {
                    Some(successor) => {
                        on_backend!(&mut write, |connection, Db| {
                            sql!(Db; "UPDATE transfers SET to_rep_id = ", bind(successor.as_str()), " WHERE id = ", bind(id))
                                .build().execute(&mut *connection).await?;
                        });
                        record_step(
                            &mut write,
                            id,
                            now,
                            &actor,
                            "repointed",
                            &format!("{rep} left; new owner {successor}"),
                        )
                        .await?;
                        changed = true;
                    }
                    None => {
                        set_state(&mut write, id, TransferState::Cancelled, now).await?;
                        record_step(
                            &mut write,
                            id,
                            now,
                            &actor,
                            "cancelled",
                            &format!("{rep} left and had no successor"),
                        )
                        .await?;
                        summary.transfers_cancelled.push(id);
                        continue;
                    }
                }
            }
            if approvers
                .iter()
                .flatten()
                .any(|approver| approver == rep.as_str())
            {
                let repointed: Vec<Option<String>> = approvers
                    .iter()
                    .map(|approver| match approver {
                        Some(approver) if approver == rep.as_str() => {
                            successor.map(RepId::to_string)
                        }
                        other => other.clone(),
                    })
                    .collect();
                on_backend!(&mut write, |connection, Db| {
                    sql!(Db; "UPDATE transfers SET approvers = ", bind(Json(&repointed)), " WHERE id = ", bind(id))
                        .build().execute(&mut *connection).await?;
                });
                record_step(
                    &mut write,
                    id,
                    now,
                    &actor,
                    "repointed",
                    &format!(
                        "{rep} left; approval passes to {}",
                        successor.map_or("an admin".to_string(), |rep| rep.to_string())
                    ),
                )
                .await?;
                changed = true;
            }
            if changed {
                summary.transfers_repointed.push(id);
            }
        }
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "UPDATE reps SET active = ", bind(false), " WHERE id = ", bind(rep.as_str()))
                .build()
                .execute(&mut *connection)
                .await?;
            sql!(Db; "UPDATE api_tokens SET revoked_at = ", bind(StoredTime(now)), " WHERE rep_id = ", bind(rep.as_str()),
                " AND revoked_at IS NULL")
                .build().execute(&mut *connection).await?;
        });
        let owned: Vec<String> = on_backend!(&mut write, |connection, Db| {
            sql!(Db; "SELECT id FROM customers WHERE owner_id = ", bind(rep.as_str()),
                format!(" ORDER BY {}", <Db as crate::database::Dialect>::byte_order("id")))
            .build_query_scalar()
            .fetch_all(&mut *connection)
            .await?
        });
        if !owned.is_empty() {
            let text = format!("{rep} left");
            let approvers: Vec<Option<String>> = Vec::new();
            let id: i64 = on_backend!(&mut write, |connection, Db| {
                sql!(Db; "INSERT INTO transfers (state, from_rep_id, to_rep_id, reason_kind, text, requested_by, requested_at, approvers, updated_at, closed_at) VALUES (",
                    bind(TransferState::Accepted.as_str()), ", ", bind(rep.as_str()), ", ", bind(successor.map(RepId::as_str)), ", ",
                    bind(TransferReason::RepLeft.as_str()), ", ", bind(text.as_str()), ", ", bind(actor.as_str()), ", ",
                    bind(StoredTime(now)), ", ", bind(Json(&approvers)), ", ", bind(StoredTime(now)), ", ", bind(StoredTime(now)), ") RETURNING id")
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
            });
            for chunk in owned.chunks(500) {
                let rows: Vec<Vec<crate::database::bulk::Value<'_>>> = chunk
                    .iter()
                    .map(|customer| {
                        vec![
                            crate::database::bulk::Value::Integer(id),
                            crate::database::bulk::Value::Text(customer),
                            crate::database::bulk::Value::Boolean(false),
                        ]
                    })
                    .collect();
                crate::database::bulk::insert_rows(
                    write.connection(),
                    &crate::database::bulk::InsertRows {
                        table: "transfer_customers",
                        columns: &[
                            ("transfer_id", crate::database::bulk::Kind::Integer),
                            ("customer_id", crate::database::bulk::Kind::Text),
                            ("is_open", crate::database::bulk::Kind::Boolean),
                        ],
                        rows: &rows,
                        on_conflict: None,
                        never_clash: false,
                    },
                    crate::database::bulk::Transfer::for_rows(rows.len()),
                )
                .await?;
            }
            let handover = handover_checklist(&mut write, &owned, rep.as_str(), &text, now).await?;
            on_backend!(&mut write, |connection, Db| {
                sql!(Db; "UPDATE transfers SET handover = ", bind(Json(&handover)), " WHERE id = ", bind(id))
                    .build().execute(&mut *connection).await?;
            });
            record_step(
                &mut write,
                id,
                now,
                &actor,
                "accepted",
                "departure: no approval step for an admin",
            )
            .await?;
            let ids: Vec<CustomerId> = owned
                .iter()
                .map(|id| {
                    CustomerId::parse(id).map_err(|error| StoreError::Corrupt(error.to_string()))
                })
                .collect::<StoreResult<_>>()?;
            let why = format!("transfer {id} (rep_left): {rep} left");
            match successor {
                Some(successor) => {
                    let changes: Vec<OwnerChange<'_>> = ids
                        .iter()
                        .map(|customer_id| OwnerChange {
                            customer_id,
                            from: Some(rep),
                            to: Some(successor),
                            reason: None,
                        })
                        .collect();
                    change_owners(
                        &mut write,
                        &changes,
                        ChangeReason {
                            at: now,
                            actor: &actor,
                            reason: &why,
                            reason_kind: "rep_left",
                        },
                    )
                    .await?;
                    tell(&mut write, Some(successor.as_str()), "rep_left", id,
                        format!("{rep} left: you now own their {} customers; the hand-over checklist is on transfer {id}", ids.len()), now, &policy).await?;
                }
                None => {
                    let why = ChangeReason {
                        at: now,
                        actor: &actor,
                        reason: &why,
                        reason_kind: "rep_left",
                    };
                    self.move_by_rules(&mut write, rep, &ids, why, clock)
                        .await?;
                }
            }
            summary.transfer_id = Some(id);
        }
        let placed: Vec<(Option<String>, i64)> = if let Some(id) = summary.transfer_id {
            on_backend!(&mut write, |connection, Db| {
                sql!(Db; "SELECT customers.owner_id, COUNT(*) FROM transfer_customers JOIN customers ON customers.id = transfer_customers.customer_id",
                    " WHERE transfer_customers.transfer_id = ", bind(id), " GROUP BY customers.owner_id")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?
            })
        } else {
            Vec::new()
        };
        for (owner, count) in placed {
            match owner {
                Some(owner) => {
                    summary.moved_to.insert(owner, count);
                }
                None => summary.to_pool += count,
            }
        }
        summary.rep_id = rep.to_string();
        summary.customers = owned.len();
        write.commit().await?;
        self.forget_cached_tokens();
        Ok(summary)
    }
}

/// An open transfer as a departure re-points it: id, from, to, approvers.
type OpenTransferRow = (i64, String, Option<String>, Json<Vec<Option<String>>>);

/// What a departure did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DepartureSummary {
    pub rep_id: String,
    /// Customers the rep owned.
    pub customers: usize,
    /// The accepted `rep_left` transfer holding them and their hand-over.
    pub transfer_id: Option<i64>,
    /// Customers per new owner.
    pub moved_to: BTreeMap<String, i64>,
    /// Customers no rule placed, now in the pool.
    pub to_pool: i64,
    pub transfers_cancelled: Vec<i64>,
    pub transfers_repointed: Vec<i64>,
}

/// The transfer as it stands after a step, read in the step's transaction, which then commits.
async fn finish(mut write: WriteTransaction, id: i64) -> StoreResult<TransferDocument> {
    let row = load_transfer(&mut write, id)
        .await?
        .ok_or_else(|| transfer_not_found(id))?;
    let document = document(&mut write, row).await?;
    write.commit().await?;
    Ok(document)
}

async fn notify_next_approver(
    write: &mut WriteTransaction,
    row: &TransferRow,
    now: DateTime<Utc>,
    policy: &allot_core::value::ValuePolicy,
) -> StoreResult<()> {
    if let Some(approver) = row.next_approver() {
        tell(
            write,
            approver,
            "transfer_requested",
            row.id,
            format!(
                "transfer {} from {} ({}) waits for your approval: {}",
                row.id, row.from_rep_id, row.reason_kind, row.text
            ),
            now,
            policy,
        )
        .await?;
    }
    Ok(())
}

async fn tell(
    write: &mut WriteTransaction,
    recipient: Option<&str>,
    kind: &str,
    transfer_id: i64,
    text: String,
    now: DateTime<Utc>,
    policy: &allot_core::value::ValuePolicy,
) -> StoreResult<()> {
    let recipient = recipient.map(rep_id).transpose()?;
    notify(
        write,
        &NewNotification {
            recipient: recipient.as_ref(),
            kind,
            customer_id: None,
            transfer_id: Some(transfer_id),
            ticket_id: None,
            text,
            once_key: None,
        },
        now,
        policy_has_webhook(policy),
    )
    .await?;
    Ok(())
}

fn rep_id(raw: &str) -> StoreResult<RepId> {
    RepId::parse(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn transfer_not_found(id: i64) -> StoreError {
    StoreError::NotFound {
        entity: "transfer",
        id: id.to_string(),
    }
}

fn closed(row: &TransferRow) -> StoreError {
    StoreError::Denied {
        code: "transfer_state",
        message: format!(
            "transfer {} is {}; this step is not open to it",
            row.id, row.state
        ),
    }
}

fn not_yours(row: &TransferRow, role: &str) -> StoreError {
    StoreError::Forbidden(format!(
        "transfer {} waits for {}, not for you as {role}",
        row.id,
        match row.next_approver() {
            Some(Some(approver)) => format!("rep:{approver}"),
            Some(None) => "an admin".to_string(),
            None => row
                .to_rep_id
                .as_ref()
                .map_or_else(|| "no one".to_string(), |rep| format!("rep:{rep}")),
        }
    ))
}
