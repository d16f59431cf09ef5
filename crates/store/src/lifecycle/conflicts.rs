//! 撞单 (conflicts): a new customer whose match keys equal a stored customer's is not created
//! or routed; it is stored as a duplicate in a conflict linked to the existing customer (and
//! so to its owner), the owner is told, and the conflict is settled by a dispute with evidence,
//! a decision to keep or move, and a merge of the two records. Each step is a conflict event.

use std::collections::{HashMap, HashSet};

use allot_core::access::Principal;
use allot_core::matching::{customer_match_keys, merge_duplicate, MatchKey};
use allot_core::pool::TransferReason;
use allot_core::{Clock, Customer, CustomerFields, CustomerId, FieldError, RepId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::notifications::{notify, notify_all, NewNotification};
use super::pool::policy_has_webhook;
use super::transfers::{ApprovalOrganisation, TransferRequest, TransferTarget};
use super::{change_owners, ChangeReason, OwnerChange};
use crate::customers::load_customers;
use crate::customers::write::{upsert_customers, write_match_keys, PendingMatchKeys};
use crate::database::bulk::{insert_rows, InsertRows, Kind, Transfer, Value};
use crate::database::{on_backend, sql, Connected, IntegerList, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime, WriteTransaction};

/// The version of the key normalisation (`allot_core::matching`) the stored keys follow. Raise
/// it when the normalisation changes: the next start rebuilds every customer's keys.
const MATCH_KEY_VERSION: i64 = 1;

/// Customers read per statement while rebuilding keys.
const REBUILD_PAGE: i64 = 10_000;

/// Where a duplicate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictSource {
    /// `POST` or `PUT /api/v1/customers`.
    Api,
    /// A CSV file.
    Import,
    /// `POST /api/v1/route`.
    Route,
}

impl ConflictSource {
    fn as_str(self) -> &'static str {
        match self {
            ConflictSource::Api => "api",
            ConflictSource::Import => "import",
            ConflictSource::Route => "route",
        }
    }
}

/// The states of a conflict: `open` (just found), `disputed` (the rep who brought it claims an
/// earlier touch), and the decisions `kept` (the owner stays) and `moved` (a transfer to the
/// disputing rep was started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictState {
    Open,
    Disputed,
    Kept,
    Moved,
}

impl ConflictState {
    pub const ALL: [ConflictState; 4] = [
        ConflictState::Open,
        ConflictState::Disputed,
        ConflictState::Kept,
        ConflictState::Moved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConflictState::Open => "open",
            ConflictState::Disputed => "disputed",
            ConflictState::Kept => "kept",
            ConflictState::Moved => "moved",
        }
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<ConflictState, FieldError> {
        ConflictState::ALL
            .into_iter()
            .find(|state| state.as_str() == raw.trim())
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!(
                        "'{raw}' is not a conflict state; expected open, disputed, kept or moved"
                    ),
                )
            })
    }

    fn is_decided(self) -> bool {
        matches!(self, ConflictState::Kept | ConflictState::Moved)
    }
}

/// What the existing owner's manager decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictDecision {
    /// The owner keeps the customer.
    Keep,
    /// The customer moves to the rep who brought the duplicate, through a transfer.
    Move,
}

impl ConflictDecision {
    pub fn parse_field(field: &str, raw: &str) -> Result<ConflictDecision, FieldError> {
        match raw.trim() {
            "keep" => Ok(ConflictDecision::Keep),
            "move" => Ok(ConflictDecision::Move),
            other => Err(FieldError::new(
                field,
                format!("'{other}' is not a decision; expected keep or move"),
            )),
        }
    }
}

/// One key of the duplicate that equals a stored customer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchedKey {
    /// `name`, `phone`, `email` or `credit_code`.
    pub field: String,
    /// The key in match form (a name normalised, a phone in digits).
    pub key: String,
    /// The customer it matched; null when that customer is outside the caller's view.
    pub customer_id: Option<String>,
}

/// An interaction given as evidence of an earlier touch.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvidenceInteraction {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub outcome: String,
    pub rep_id: String,
}

/// One step of a conflict.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConflictEvent {
    pub at: String,
    pub actor: String,
    /// opened, brought_again, disputed, kept, moved, merged.
    pub action: String,
    pub text: String,
}

/// A conflict, as `GET /api/v1/conflicts/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConflictDocument {
    pub id: i64,
    /// open, disputed, kept or moved.
    pub state: String,
    /// The existing customer; null when it is outside the caller's view.
    pub customer_id: Option<String>,
    /// Its owner when the conflict opened; null in the pool or outside the caller's view.
    pub owner_id: Option<String>,
    /// The new record's id; the record is kept here, not as a customer.
    pub duplicate_id: String,
    /// The new record as it was brought (column → text, and `attributes`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub duplicate: serde_json::Value,
    pub matched: Vec<MatchedKey>,
    /// api, import or route.
    pub source: String,
    pub opened_by: String,
    /// The rep who brought the duplicate, who may dispute.
    pub brought_by_rep_id: Option<String>,
    pub opened_at: String,
    pub evidence: Option<String>,
    pub evidence_interactions: Vec<EvidenceInteraction>,
    pub disputed_at: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_comment: Option<String>,
    /// The transfer a `move` started.
    pub transfer_id: Option<i64>,
    pub merged_by: Option<String>,
    pub merged_at: Option<String>,
    pub events: Vec<ConflictEvent>,
}

/// Filters of the conflict list.
#[derive(Debug, Clone, Default)]
pub struct ConflictFilter {
    pub state: Option<ConflictState>,
    pub customer_id: Option<CustomerId>,
    pub limit: i64,
}

/// A dispute by the rep who brought the duplicate.
#[derive(Debug, Clone)]
pub struct Dispute {
    pub text: String,
    /// Interactions of the disputing rep with the existing customer, proving an earlier touch.
    pub interaction_ids: Vec<String>,
}

#[derive(sqlx_macros::FromRow)]
struct ConflictRow {
    id: i64,
    state: String,
    customer_id: String,
    duplicate_id: String,
    duplicate: Json<serde_json::Value>,
    matched: Json<Vec<MatchedKey>>,
    owner_id: Option<String>,
    source: String,
    opened_by: String,
    brought_by_rep_id: Option<String>,
    opened_at: StoredTime,
    evidence: Option<String>,
    evidence_interaction_ids: Option<Json<Vec<String>>>,
    disputed_at: Option<StoredTime>,
    decided_by: Option<String>,
    decided_at: Option<StoredTime>,
    decision_comment: Option<String>,
    transfer_id: Option<i64>,
    merged_by: Option<String>,
    merged_at: Option<StoredTime>,
    /// The existing customer's owner now (joined).
    current_owner_id: Option<String>,
}

const CONFLICT_COLUMNS: &str = "conflicts.id, conflicts.state, conflicts.customer_id, conflicts.duplicate_id, \
    conflicts.duplicate, conflicts.matched, conflicts.owner_id, conflicts.source, conflicts.opened_by, \
    conflicts.brought_by_rep_id, conflicts.opened_at, conflicts.evidence, conflicts.evidence_interaction_ids, \
    conflicts.disputed_at, conflicts.decided_by, conflicts.decided_at, conflicts.decision_comment, \
    conflicts.transfer_id, conflicts.merged_by, conflicts.merged_at, customers.owner_id AS current_owner_id";

impl ConflictRow {
    fn state(&self) -> StoreResult<ConflictState> {
        ConflictState::parse_field("state", &self.state)
            .map_err(|error| StoreError::Corrupt(error.to_string()))
    }

    fn current_owner(&self) -> StoreResult<Option<RepId>> {
        self.current_owner_id.as_deref().map(rep_id).transpose()
    }

    /// Whether the caller sees the existing customer (by its owner now).
    fn sees_customer(&self, principal: &Principal) -> bool {
        self.current_owner()
            .is_ok_and(|owner| principal.sees_owner(owner.as_ref()))
    }

    fn brought_by(&self, principal: &Principal) -> bool {
        principal
            .rep()
            .is_some_and(|rep| self.brought_by_rep_id.as_deref() == Some(rep.as_str()))
    }

    /// Whether the caller may see the conflict: it sees the existing customer, or the rep who
    /// brought the duplicate (itself, or one of its subtree).
    fn in_view(&self, principal: &Principal) -> bool {
        self.sees_customer(principal)
            || self
                .brought_by_rep_id
                .as_deref()
                .and_then(|rep| RepId::parse(rep).ok())
                .is_some_and(|rep| principal.sees_rep(&rep))
    }

    /// Whether the caller decides: an admin, or a manager whose subtree holds the owner (any
    /// manager for a customer in the pool).
    fn may_decide(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Admin { .. } => true,
            Principal::Manager { .. } => self.sees_customer(principal),
            _ => false,
        }
    }
}

/// A duplicate to record: the new record and the stored customers its keys matched.
#[derive(Debug, Clone)]
pub(crate) struct NewConflict<'a> {
    pub duplicate: &'a Customer,
    /// Every key of the record that matched, with the customer it matched.
    pub matches: KeyMatches,
    pub source: ConflictSource,
    pub actor: &'a str,
}

/// The conflict a duplicate opened (or joined), as an import or a route reports it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenedConflict {
    pub conflict_id: i64,
    pub duplicate_id: String,
    /// The existing customer; null when it is outside the caller's view.
    pub customer_id: Option<String>,
    pub matched: Vec<MatchedKey>,
}

/// The keys of a record that matched, each with the stored customer it matched, strongest
/// first; empty when the record is no duplicate.
pub(crate) type KeyMatches = Vec<(MatchKey, CustomerId)>;

/// Finds duplicates among new records, in order: a record whose keys equal those of a stored
/// customer, or of an earlier record of `records` that is not a duplicate itself, is one.
/// Returns, for each record, the keys that matched and whom (empty: not a duplicate), and the
/// fingerprints of its keys (so that writing them does not compute them again).
///
/// `pending`, when given, holds the keys of every stored customer (an import into an empty
/// table keeps them until it ends): candidates come from it instead of the index.
pub(crate) async fn find_duplicates(
    source: &mut impl Connected,
    records: &[&Customer],
    pending: Option<&PendingMatchKeys>,
) -> StoreResult<(Vec<KeyMatches>, Vec<Vec<i64>>)> {
    let keys: Vec<Vec<MatchKey>> = records
        .iter()
        .map(|record| customer_match_keys(record))
        .collect();
    find_duplicates_by_keys(source, records, &keys, pending).await
}

/// [`find_duplicates`] with each record's keys computed already (`keys[i]` are
/// `customer_match_keys(records[i])`): an import computes them on its reading thread.
pub(crate) async fn find_duplicates_by_keys(
    source: &mut impl Connected,
    records: &[&Customer],
    keys: &[Vec<MatchKey>],
    pending: Option<&PendingMatchKeys>,
) -> StoreResult<(Vec<KeyMatches>, Vec<Vec<i64>>)> {
    let prints: Vec<Vec<i64>> = keys
        .iter()
        .map(|record_keys| record_keys.iter().map(MatchKey::fingerprint).collect())
        .collect();
    let mut fingerprints: Vec<i64> = prints.iter().flatten().copied().collect();
    fingerprints.sort_unstable();
    fingerprints.dedup();
    let mut candidates: Vec<String> = Vec::new();
    if let Some(pending) = pending {
        candidates.extend(
            fingerprints
                .iter()
                .flat_map(|fingerprint| pending.customers_with(*fingerprint))
                .map(ToString::to_string),
        );
        fingerprints.clear();
    }
    for chunk in fingerprints.chunks(LIST_CHUNK) {
        let found: Vec<String> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "SELECT customer_id FROM customer_match_keys WHERE ");
            query.push_in_integer_list("fingerprint", chunk);
            query
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?
        });
        candidates.extend(found);
    }
    candidates.sort_unstable();
    candidates.dedup();
    // A fingerprint is a hint: the stored customers it names are read and their keys compared.
    let mut stored: HashMap<String, Vec<String>> = HashMap::new();
    let candidate_ids: Vec<&str> = candidates.iter().map(String::as_str).collect();
    for chunk in candidate_ids.chunks(LIST_CHUNK) {
        for customer in load_customers(&mut *source, chunk).await?.values() {
            for key in customer_match_keys(customer) {
                stored
                    .entry(key.stored_form())
                    .or_default()
                    .push(customer.id.to_string());
            }
        }
    }
    // The records of this batch taken as new customers so far, by fingerprint (record, key);
    // a hit is confirmed on the key itself.
    let mut earlier: HashMap<i64, Vec<(usize, usize)>, foldhash::fast::RandomState> =
        HashMap::default();
    let mut found = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let mut matches: KeyMatches = Vec::new();
        for (key, fingerprint) in keys[index].iter().zip(&prints[index]) {
            if !stored.is_empty() {
                for customer in stored.get(&key.stored_form()).into_iter().flatten() {
                    if customer != record.id.as_str() {
                        let customer = CustomerId::parse(customer)
                            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                        matches.push((key.clone(), customer));
                    }
                }
            }
            for (other, other_key) in earlier.get(fingerprint).into_iter().flatten() {
                if keys[*other][*other_key] == *key {
                    matches.push((key.clone(), records[*other].id.clone()));
                }
            }
        }
        if matches.is_empty() {
            for (key_index, fingerprint) in prints[index].iter().enumerate() {
                earlier
                    .entry(*fingerprint)
                    .or_default()
                    .push((index, key_index));
            }
        }
        matches.sort_by(|(a_key, a_customer), (b_key, b_customer)| {
            (a_key.field.strength_rank(), a_customer)
                .cmp(&(b_key.field.strength_rank(), b_customer))
        });
        matches.dedup();
        found.push(matches);
    }
    Ok((found, prints))
}

/// The record as text, column by column, as a conflict keeps it.
fn record_as_json(record: &Customer) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for column in allot_core::customer::CUSTOMER_COLUMNS {
        let text = record.column_text(column);
        if !text.is_empty() {
            object.insert(
                column.name.to_string(),
                serde_json::Value::from(text.as_ref()),
            );
        }
    }
    object.insert(
        "attributes".to_string(),
        serde_json::to_value(&record.attributes).unwrap_or_default(),
    );
    serde_json::Value::Object(object)
}

/// The record a conflict keeps, parsed again.
fn record_from_json(
    value: &serde_json::Value,
    vocabulary: &allot_core::Vocabulary,
) -> StoreResult<Customer> {
    let mut fields = CustomerFields::default();
    let corrupt =
        |why: String| StoreError::Corrupt(format!("a conflict's duplicate record: {why}"));
    let object = value
        .as_object()
        .ok_or_else(|| corrupt("not an object".to_string()))?;
    for (name, value) in object {
        if name == "attributes" {
            for (key, value) in value.as_object().into_iter().flatten() {
                fields
                    .set(
                        &format!("attr.{key}"),
                        value.as_str().unwrap_or_default().to_string(),
                    )
                    .map_err(|error| corrupt(error.to_string()))?;
            }
        } else {
            fields
                .set(name, value.as_str().unwrap_or_default().to_string())
                .map_err(|error| corrupt(error.to_string()))?;
        }
    }
    fields
        .into_customer(vocabulary)
        .map_err(StoreError::InvalidRecord)
}

/// Records duplicates as conflicts, in the caller's transaction (after the customers they
/// matched are written): each is linked to the customer its strongest key matched, its owner
/// is told, and a record brought again while its conflict is open joins that conflict. A few
/// statements for the whole list, not a few per conflict (an import of 100,000 rows with
/// 10,000 duplicates spent most of its time on PostgreSQL in one round trip per statement).
pub(crate) async fn open_conflicts(
    write: &mut WriteTransaction,
    conflicts: &[NewConflict<'_>],
    at: DateTime<Utc>,
    webhook: bool,
) -> StoreResult<Vec<OpenedConflict>> {
    let conflicts: Vec<&NewConflict<'_>> = conflicts
        .iter()
        .filter(|conflict| !conflict.matches.is_empty())
        .collect();
    if conflicts.is_empty() {
        return Ok(Vec::new());
    }
    let target = |conflict: &NewConflict<'_>| conflict.matches[0].1.clone();
    let targets: Vec<String> = conflicts
        .iter()
        .map(|conflict| target(conflict).to_string())
        .collect();
    let duplicate_ids: Vec<&str> = conflicts
        .iter()
        .map(|conflict| conflict.duplicate.id.as_str())
        .collect();
    let target_ids: Vec<&str> = targets.iter().map(String::as_str).collect();
    let mut owners: HashMap<String, Option<String>> = HashMap::new();
    let mut open_before: HashMap<String, i64> = HashMap::new();
    for chunk in target_ids.chunks(LIST_CHUNK) {
        let rows: Vec<(String, Option<String>)> = on_backend!(&mut *write, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, owner_id FROM customers WHERE ");
            query.push_in_list("id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        owners.extend(rows);
    }
    for chunk in duplicate_ids.chunks(LIST_CHUNK) {
        let rows: Vec<(String, i64)> = on_backend!(&mut *write, |connection, Db| {
            let mut query = sql!(Db; "SELECT duplicate_id, id FROM conflicts WHERE state IN ('open', 'disputed') AND ");
            query.push_in_list("duplicate_id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        open_before.extend(rows);
    }

    struct Prepared {
        matched: Vec<MatchedKey>,
        owner: Option<String>,
        brought_by: Option<String>,
        duplicate: String,
        described: String,
    }
    let prepared: Vec<Prepared> = conflicts
        .iter()
        .zip(&targets)
        .map(|(conflict, target)| {
            let matched: Vec<MatchedKey> = conflict
                .matches
                .iter()
                .map(|(key, customer)| MatchedKey {
                    field: key.field.as_str().to_string(),
                    key: key.key.clone(),
                    customer_id: Some(customer.to_string()),
                })
                .collect();
            let brought_by = conflict
                .actor
                .strip_prefix("rep:")
                .map(str::to_string)
                .or_else(|| {
                    conflict
                        .duplicate
                        .first_touch_rep_id
                        .as_ref()
                        .map(ToString::to_string)
                });
            Prepared {
                described: describe_matches(&matched),
                owner: owners.get(target).cloned().flatten(),
                duplicate: serde_json::to_string(&record_as_json(conflict.duplicate))
                    .unwrap_or_else(|_| "{}".to_string()),
                matched,
                brought_by,
            }
        })
        .collect();
    let matched_texts: Vec<String> = prepared
        .iter()
        .map(|row| serde_json::to_string(&row.matched).unwrap_or_else(|_| "[]".to_string()))
        .collect();

    // The new conflicts in one write; their ids read back by duplicate id.
    let new_rows: Vec<Vec<Value<'_>>> = conflicts
        .iter()
        .zip(&prepared)
        .zip(&targets)
        .zip(&matched_texts)
        .filter(|(((conflict, _), _), _)| !open_before.contains_key(conflict.duplicate.id.as_str()))
        .map(|(((conflict, row), target), matched)| {
            vec![
                Value::Text(ConflictState::Open.as_str()),
                Value::Text(target),
                Value::Text(conflict.duplicate.id.as_str()),
                Value::Json(&row.duplicate),
                Value::Json(matched),
                Value::text(row.owner.as_deref()),
                Value::Text(conflict.source.as_str()),
                Value::Text(conflict.actor),
                Value::text(row.brought_by.as_deref()),
                Value::Timestamp(at),
                Value::Timestamp(at),
            ]
        })
        .collect();
    const CONFLICT_WRITE_COLUMNS: &[(&str, Kind)] = &[
        ("state", Kind::Text),
        ("customer_id", Kind::Text),
        ("duplicate_id", Kind::Text),
        ("duplicate", Kind::Json),
        ("matched", Kind::Json),
        ("owner_id", Kind::Text),
        ("source", Kind::Text),
        ("opened_by", Kind::Text),
        ("brought_by_rep_id", Kind::Text),
        ("opened_at", Kind::Timestamp),
        ("updated_at", Kind::Timestamp),
    ];
    insert_rows(
        write.connection(),
        &InsertRows {
            table: "conflicts",
            columns: CONFLICT_WRITE_COLUMNS,
            rows: &new_rows,
            on_conflict: None,
            never_clash: false,
        },
        Transfer::for_rows(new_rows.len()),
    )
    .await?;
    let mut opened_now: HashMap<String, i64> = HashMap::new();
    let new_duplicates: Vec<&str> = duplicate_ids
        .iter()
        .copied()
        .filter(|id| !open_before.contains_key(*id))
        .collect();
    for chunk in new_duplicates.chunks(LIST_CHUNK) {
        let rows: Vec<(String, i64)> = on_backend!(&mut *write, |connection, Db| {
            let mut query = sql!(Db; "SELECT duplicate_id, id FROM conflicts WHERE state IN ('open', 'disputed') AND ");
            query.push_in_list("duplicate_id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        opened_now.extend(rows);
    }

    // Each conflict's first step (or a step saying it was brought again), and the owners told.
    let mut steps: Vec<(i64, &'static str, String, &str)> = Vec::with_capacity(conflicts.len());
    let mut opened = Vec::with_capacity(conflicts.len());
    let mut notices: Vec<(Option<RepId>, &CustomerId, String)> = Vec::new();
    for ((conflict, row), target) in conflicts.iter().zip(&prepared).zip(&targets) {
        let duplicate = conflict.duplicate.id.as_str();
        let id = match (open_before.get(duplicate), opened_now.get(duplicate)) {
            (Some(id), _) => {
                steps.push((
                    *id,
                    "brought_again",
                    format!("{duplicate} brought again; it matches {}", row.described),
                    conflict.actor,
                ));
                *id
            }
            (None, Some(id)) => {
                steps.push((
                    *id,
                    "opened",
                    format!("{duplicate} matches {}", row.described),
                    conflict.actor,
                ));
                let recipient = row.owner.as_deref().map(rep_id).transpose()?;
                notices.push((
                    recipient,
                    &conflict.matches[0].1,
                    format!(
                        "conflict {id}: new record {duplicate} ({}) brought by {} matches your customer {target} ({})",
                        conflict.duplicate.name,
                        row.brought_by.as_deref().unwrap_or(conflict.actor),
                        row.described
                    ),
                ));
                *id
            }
            (None, None) => {
                return Err(StoreError::Corrupt(format!(
                    "the conflict of {duplicate} was not stored"
                )))
            }
        };
        opened.push(OpenedConflict {
            conflict_id: id,
            duplicate_id: duplicate.to_string(),
            customer_id: Some(target.clone()),
            matched: row.matched.clone(),
        });
    }
    const STEP_COLUMNS: &[(&str, Kind)] = &[
        ("conflict_id", Kind::Integer),
        ("at", Kind::Timestamp),
        ("actor", Kind::Text),
        ("action", Kind::Text),
        ("text", Kind::Text),
    ];
    let step_rows: Vec<Vec<Value<'_>>> = steps
        .iter()
        .map(|(id, action, text, actor)| {
            vec![
                Value::Integer(*id),
                Value::Timestamp(at),
                Value::Text(actor),
                Value::Text(action),
                Value::Text(text),
            ]
        })
        .collect();
    insert_rows(
        write.connection(),
        &InsertRows {
            table: "conflict_events",
            columns: STEP_COLUMNS,
            rows: &step_rows,
            on_conflict: None,
            never_clash: false,
        },
        Transfer::for_rows(step_rows.len()),
    )
    .await?;
    let notices: Vec<NewNotification<'_>> = notices
        .iter()
        .map(|(recipient, customer, text)| NewNotification {
            recipient: recipient.as_ref(),
            kind: "conflict_opened",
            customer_id: Some(*customer),
            transfer_id: None,
            ticket_id: None,
            text: text.clone(),
            once_key: None,
        })
        .collect();
    notify_all(write, &notices, at, webhook).await?;
    Ok(opened)
}

impl OpenedConflict {
    /// The conflict as a caller who does not see the existing customer may know it.
    pub fn without_existing_customer(mut self) -> OpenedConflict {
        self.customer_id = None;
        for key in &mut self.matched {
            key.customer_id = None;
        }
        self
    }
}

/// "phone 13800138000 of CU001, name 腾讯 of CU001".
fn describe_matches(matched: &[MatchedKey]) -> String {
    matched
        .iter()
        .map(|key| {
            format!(
                "{} '{}' of {}",
                key.field,
                key.key,
                key.customer_id
                    .as_deref()
                    .unwrap_or("a customer outside your view")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn record_conflict_event(
    source: &mut impl Connected,
    id: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    text: &str,
) -> StoreResult<()> {
    on_backend!(source, |connection, Db| {
        sql!(Db; "INSERT INTO conflict_events (conflict_id, at, actor, action, text) VALUES (", bind(id), ", ",
            bind(StoredTime(at)), ", ", bind(actor), ", ", bind(action), ", ", bind(text), ")")
        .build()
        .execute(&mut *connection)
        .await?;
    });
    Ok(())
}

async fn tell(
    write: &mut WriteTransaction,
    recipient: Option<&RepId>,
    kind: &str,
    customer: &CustomerId,
    text: String,
    at: DateTime<Utc>,
    webhook: bool,
) -> StoreResult<()> {
    notify(
        write,
        &NewNotification {
            recipient,
            kind,
            customer_id: Some(customer),
            transfer_id: None,
            ticket_id: None,
            text,
            once_key: None,
        },
        at,
        webhook,
    )
    .await?;
    Ok(())
}

async fn load_conflict(source: &mut impl Connected, id: i64) -> StoreResult<Option<ConflictRow>> {
    Ok(on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT {CONFLICT_COLUMNS} FROM conflicts JOIN customers ON customers.id = conflicts.customer_id WHERE conflicts.id = "),
            bind(id))
        .build_query_as()
        .fetch_optional(&mut *connection)
        .await?
    }))
}

/// The conflict as the caller may see it: the existing customer and its owner hidden when the
/// caller does not see them.
async fn document(
    source: &mut impl Connected,
    row: ConflictRow,
    principal: &Principal,
) -> StoreResult<ConflictDocument> {
    let events: Vec<(StoredTime, String, String, String)> = on_backend!(
        &mut *source,
        |connection, Db| {
            sql!(Db; "SELECT at, actor, action, text FROM conflict_events WHERE conflict_id = ", bind(row.id), " ORDER BY id")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
        }
    );
    let evidence_ids: Vec<String> = row
        .evidence_interaction_ids
        .as_ref()
        .map(|ids| ids.0.clone())
        .unwrap_or_default();
    let evidence_interactions = interactions(source, &evidence_ids)
        .await?
        .into_iter()
        .map(|(_, interaction)| interaction)
        .collect();
    let sees = row.sees_customer(principal);
    let hide = |text: Option<String>| text.filter(|_| sees);
    let matched = row
        .matched
        .0
        .iter()
        .cloned()
        .map(|mut key| {
            key.customer_id = hide(key.customer_id);
            key
        })
        .collect::<Vec<_>>();
    let mut events: Vec<ConflictEvent> = events
        .into_iter()
        .map(|(at, actor, action, text)| ConflictEvent {
            at: at.text(),
            actor,
            action,
            text,
        })
        .collect();
    if !sees {
        // The steps' words name the existing customer; its matches say it without the id.
        let hidden = describe_matches(&matched);
        let shown = describe_matches(&row.matched.0);
        for event in &mut events {
            event.text = event
                .text
                .replace(&shown, &hidden)
                .replace(&row.customer_id, "a customer outside your view");
        }
    }
    Ok(ConflictDocument {
        id: row.id,
        state: row.state.clone(),
        customer_id: hide(Some(row.customer_id.clone())),
        owner_id: hide(row.owner_id.clone()),
        duplicate_id: row.duplicate_id.clone(),
        duplicate: row.duplicate.0.clone(),
        matched,
        source: row.source.clone(),
        opened_by: row.opened_by.clone(),
        brought_by_rep_id: row.brought_by_rep_id.clone(),
        opened_at: row.opened_at.text(),
        evidence: row.evidence.clone(),
        evidence_interactions,
        disputed_at: row.disputed_at.map(StoredTime::text),
        decided_by: row.decided_by.clone(),
        decided_at: row.decided_at.map(StoredTime::text),
        decision_comment: row.decision_comment.clone(),
        transfer_id: row.transfer_id,
        merged_by: row.merged_by.clone(),
        merged_at: row.merged_at.map(StoredTime::text),
        events,
    })
}

type InteractionRow = (String, String, String, StoredTime, String, String);

/// The interactions among `ids`, each with the customer it was with.
async fn interactions(
    source: &mut impl Connected,
    ids: &[String],
) -> StoreResult<Vec<(String, EvidenceInteraction)>> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for chunk in ids.chunks(LIST_CHUNK) {
        let rows: Vec<InteractionRow> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, customer_id, rep_id, at, kind, outcome FROM interactions WHERE ");
            query.push_in_list("id", chunk);
            query.push(" ORDER BY at, id");
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        found.extend(rows);
    }
    Ok(found
        .into_iter()
        .map(|(id, customer, rep_id, at, kind, outcome)| {
            let interaction = EvidenceInteraction {
                id,
                at: at.text(),
                kind,
                outcome,
                rep_id,
            };
            (customer, interaction)
        })
        .collect())
}

impl Store {
    /// Builds the match keys of every stored customer when they were never built (a database
    /// from before conflicts) or were built by an older normalisation; nothing otherwise.
    pub(crate) async fn ensure_match_keys(&self) -> StoreResult<()> {
        // Every connection checks: a read, so that opening a store does not queue for the
        // routing lock; the write below checks again under it.
        let mut connection = self.database.acquire().await?;
        let stored: Option<i64> = on_backend!(&mut connection, |connection, Db| {
            sql!(Db; "SELECT version FROM match_key_version WHERE id = 1")
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
        });
        drop(connection);
        if stored == Some(MATCH_KEY_VERSION) {
            return Ok(());
        }
        let mut write = self.begin_write().await?;
        let version: Option<i64> = on_backend!(&mut write, |connection, Db| {
            sql!(Db; "SELECT version FROM match_key_version WHERE id = 1")
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
        });
        if version == Some(MATCH_KEY_VERSION) {
            return Ok(());
        }
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "DELETE FROM customer_match_keys")
                .build()
                .execute(&mut *connection)
                .await?;
        });
        let mut after = String::new();
        loop {
            let ids: Vec<String> = on_backend!(&mut write, |connection, Db| {
                sql!(Db; "SELECT id FROM customers WHERE id > ", bind(after.as_str()), " ORDER BY id LIMIT ", bind(REBUILD_PAGE))
                    .build_query_scalar()
                    .fetch_all(&mut *connection)
                    .await?
            });
            let Some(last) = ids.last().cloned() else {
                break;
            };
            let id_texts: Vec<&str> = ids.iter().map(String::as_str).collect();
            let customers = load_customers(&mut write, &id_texts).await?;
            let customers: Vec<&Customer> = customers.values().collect();
            write_match_keys(&mut write, &customers, Transfer::for_rows(customers.len())).await?;
            after = last;
        }
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "DELETE FROM match_key_version")
                .build()
                .execute(&mut *connection)
                .await?;
            sql!(Db; "INSERT INTO match_key_version (id, version) VALUES (1, ", bind(MATCH_KEY_VERSION), ")")
                .build()
                .execute(&mut *connection)
                .await?;
        });
        write.commit().await
    }

    /// Conflicts the caller may see, newest first.
    pub async fn list_conflicts(
        &self,
        principal: &Principal,
        filter: &ConflictFilter,
    ) -> StoreResult<Vec<ConflictDocument>> {
        let mut connection = self.database.acquire().await?;
        let rows: Vec<ConflictRow> = on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db; format!(
                "SELECT {CONFLICT_COLUMNS} FROM conflicts JOIN customers ON customers.id = conflicts.customer_id WHERE 1 = 1"));
            if let Some(state) = filter.state {
                query
                    .push(" AND conflicts.state = ")
                    .push_bind(state.as_str());
            }
            if let Some(customer) = &filter.customer_id {
                query
                    .push(" AND conflicts.customer_id = ")
                    .push_bind(customer.as_str());
            }
            query.push(" ORDER BY conflicts.id DESC");
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        let mut documents = Vec::new();
        for row in rows {
            if row.in_view(principal) {
                documents.push(document(&mut connection, row, principal).await?);
                if documents.len() as i64 >= filter.limit.clamp(1, 1000) {
                    break;
                }
            }
        }
        Ok(documents)
    }

    /// One conflict, if the caller may see it.
    pub async fn get_conflict(
        &self,
        principal: &Principal,
        id: i64,
    ) -> StoreResult<ConflictDocument> {
        let mut connection = self.database.acquire().await?;
        let row = load_conflict(&mut connection, id)
            .await?
            .filter(|row| row.in_view(principal))
            .ok_or_else(|| conflict_not_found(id))?;
        document(&mut connection, row, principal).await
    }

    /// The rep who brought the duplicate disputes it, with evidence: words, and interactions it
    /// had with the existing customer. The deciding manager is told.
    pub async fn dispute_conflict(
        &self,
        principal: &Principal,
        id: i64,
        dispute: &Dispute,
        clock: Clock,
    ) -> StoreResult<ConflictDocument> {
        let text = allot_core::text::parse_text("text", &dispute.text)?;
        let now = clock.now();
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let row = acting_on(&mut write, principal, id).await?;
        if row.state()? != ConflictState::Open {
            return Err(wrong_state(&row, "disputed"));
        }
        if !(row.brought_by(principal) || principal.is_admin()) {
            return Err(StoreError::Forbidden(format!(
                "conflict {id} may be disputed only by the rep who brought the duplicate ({})",
                row.brought_by_rep_id.as_deref().unwrap_or("no rep")
            )));
        }
        let Some(disputing) = row.brought_by_rep_id.clone() else {
            return Err(StoreError::Denied {
                code: "no_rep",
                message: format!("conflict {id} was brought by no rep, so no one can dispute it"),
            });
        };
        let evidence = interactions(&mut write, &dispute.interaction_ids).await?;
        let unique: HashSet<&String> = dispute.interaction_ids.iter().collect();
        if unique.len() != dispute.interaction_ids.len() {
            return Err(StoreError::Invalid(FieldError::new(
                "interaction_ids",
                "an interaction is named twice",
            )));
        }
        for (index, wanted) in dispute.interaction_ids.iter().enumerate() {
            let field = format!("interaction_ids[{index}]");
            let Some((customer, found)) = evidence.iter().find(|(_, found)| &found.id == wanted)
            else {
                return Err(StoreError::Invalid(FieldError::new(
                    &field,
                    format!("interaction '{wanted}' does not exist"),
                )));
            };
            if found.rep_id != disputing || *customer != row.customer_id {
                return Err(StoreError::Invalid(FieldError::new(
                    &field,
                    format!(
                        "interaction '{wanted}' is not one of {disputing} with the customer in conflict"
                    ),
                )));
            }
        }
        let ids = Json(&dispute.interaction_ids);
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "UPDATE conflicts SET state = ", bind(ConflictState::Disputed.as_str()), ", evidence = ", bind(text.as_str()),
                ", evidence_interaction_ids = ", bind(ids), ", disputed_at = ", bind(StoredTime(now)),
                ", updated_at = ", bind(StoredTime(now)), " WHERE id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?;
        });
        let earliest = evidence.first().map(|(_, first)| first).map_or_else(
            || "no interactions given".to_string(),
            |first| format!("earliest interaction {} on {}", first.id, first.at),
        );
        record_conflict_event(
            &mut write,
            id,
            now,
            &principal.actor(),
            "disputed",
            &format!("{text} ({earliest})"),
        )
        .await?;
        let customer = customer_id(&row.customer_id)?;
        let decider = self.deciding_manager(&mut write, &row).await?;
        tell(
            &mut write,
            decider.as_ref(),
            "conflict_disputed",
            &customer,
            format!("conflict {id} over {customer} is disputed by {disputing}: {text}; decide keep or move"),
            now,
            policy_has_webhook(&policy),
        )
        .await?;
        finish(write, id, principal).await
    }

    /// The existing owner's manager (or an admin) decides: `keep` closes the conflict with the
    /// owner unchanged; `move` starts a transfer (reason `conflict`) to the disputing rep,
    /// approved by the decision where the decider is its approver, which the rep accepts.
    pub async fn decide_conflict(
        &self,
        principal: &Principal,
        id: i64,
        decision: ConflictDecision,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<ConflictDocument> {
        let comment = allot_core::text::parse_text("comment", comment)?;
        let now = clock.now();
        let view = self.view_of(principal, clock).await?;
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let row = acting_on(&mut write, principal, id).await?;
        let state = row.state()?;
        if state.is_decided() {
            return Err(wrong_state(&row, "decided"));
        }
        if !row.may_decide(principal) {
            return Err(StoreError::Forbidden(format!(
                "conflict {id} is decided by the manager of the customer's owner or an admin"
            )));
        }
        let customer = customer_id(&row.customer_id)?;
        let webhook = policy_has_webhook(&policy);
        let (new_state, transfer_id, told) = match decision {
            ConflictDecision::Keep => (ConflictState::Kept, None, None),
            ConflictDecision::Move => {
                if state != ConflictState::Disputed {
                    return Err(StoreError::Denied {
                        code: "conflict_state",
                        message: format!(
                            "conflict {id} is {}: only a disputed conflict can be moved",
                            row.state
                        ),
                    });
                }
                let to = rep_id(row.brought_by_rep_id.as_deref().unwrap_or_default())?;
                let transfer = match row.current_owner()? {
                    Some(from) => Some(
                        self.move_through_transfer(
                            &mut write, principal, &view, &policy, &customer, from, &to, id,
                            &comment, clock,
                        )
                        .await?,
                    ),
                    None => {
                        // In the pool: nobody to hand over from, the rep takes it now.
                        let reason = format!("conflict {id} decided for {to}: {comment}");
                        change_owners(
                            &mut write,
                            &[OwnerChange {
                                customer_id: &customer,
                                from: None,
                                to: Some(&to),
                                reason: None,
                            }],
                            ChangeReason {
                                at: now,
                                actor: &principal.actor(),
                                reason: &reason,
                                reason_kind: TransferReason::Conflict.as_str(),
                            },
                        )
                        .await?;
                        None
                    }
                };
                (ConflictState::Moved, transfer, Some(to))
            }
        };
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "UPDATE conflicts SET state = ", bind(new_state.as_str()), ", decided_by = ", bind(principal.actor()),
                ", decided_at = ", bind(StoredTime(now)), ", decision_comment = ", bind(comment.as_str()),
                ", transfer_id = ", bind(transfer_id), ", updated_at = ", bind(StoredTime(now)), " WHERE id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?;
        });
        let words = match (new_state, transfer_id) {
            (ConflictState::Moved, Some(transfer)) => {
                format!(
                    "{comment} (transfer {transfer} to {})",
                    told.as_ref().map(ToString::to_string).unwrap_or_default()
                )
            }
            _ => comment.to_string(),
        };
        record_conflict_event(
            &mut write,
            id,
            now,
            &principal.actor(),
            new_state.as_str(),
            &words,
        )
        .await?;
        let text = format!(
            "conflict {id} over {customer} was decided '{}' by {}: {comment}",
            new_state.as_str(),
            principal.actor()
        );
        let mut recipients: Vec<RepId> = Vec::new();
        recipients.extend(row.current_owner()?);
        recipients.extend(row.brought_by_rep_id.as_deref().map(rep_id).transpose()?);
        recipients.dedup();
        for recipient in &recipients {
            tell(
                &mut write,
                Some(recipient),
                "conflict_decided",
                &customer,
                text.clone(),
                now,
                webhook,
            )
            .await?;
        }
        finish(write, id, principal).await
    }

    /// Merges the duplicate into the existing customer, whose id and history stay: the columns
    /// it leaves empty take the duplicate's values, and the earlier creation time is kept. The
    /// owner does not change. Open to whoever decides the conflict, in any state, once.
    pub async fn merge_conflict(
        &self,
        principal: &Principal,
        id: i64,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<ConflictDocument> {
        let comment = allot_core::text::parse_text("comment", comment)?;
        let now = clock.now();
        let mut write = self.begin_write().await?;
        let vocabulary = self.policy_in(&mut write).await?.1.vocabulary();
        let row = acting_on(&mut write, principal, id).await?;
        if !row.may_decide(principal) {
            return Err(StoreError::Forbidden(format!(
                "conflict {id} is merged by the manager of the customer's owner or an admin"
            )));
        }
        if row.merged_at.is_some() {
            return Err(StoreError::Denied {
                code: "conflict_state",
                message: format!("conflict {id} is merged already"),
            });
        }
        let existing = load_customers(&mut write, &[row.customer_id.as_str()])
            .await?
            .remove(row.customer_id.as_str())
            .ok_or_else(|| conflict_not_found(id))?;
        let duplicate = record_from_json(&row.duplicate.0, &vocabulary)?;
        let (merged, filled) = merge_duplicate(&existing, &duplicate);
        if !filled.is_empty() {
            upsert_customers(&mut write, &[&merged], &[&existing], now, Transfer::Arrays).await?;
        }
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "UPDATE conflicts SET merged_by = ", bind(principal.actor()), ", merged_at = ", bind(StoredTime(now)),
                ", updated_at = ", bind(StoredTime(now)), " WHERE id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?;
        });
        let filled_words = if filled.is_empty() {
            "nothing to fill".to_string()
        } else {
            format!("filled {}", filled.join(", "))
        };
        record_conflict_event(
            &mut write,
            id,
            now,
            &principal.actor(),
            "merged",
            &format!(
                "{} merged into {} ({filled_words}): {comment}",
                row.duplicate_id, row.customer_id
            ),
        )
        .await?;
        finish(write, id, principal).await
    }

    /// The manager who decides a conflict over a customer of `row`'s owner: the manager of the
    /// owner's team (or the one above, for a manager's own customer); `None`: the admins.
    async fn deciding_manager(
        &self,
        write: &mut WriteTransaction,
        row: &ConflictRow,
    ) -> StoreResult<Option<RepId>> {
        let Some(owner) = row.current_owner()? else {
            return Ok(None);
        };
        let (teams, reps) = crate::organisation::load_teams_and_reps(write).await?;
        let reps: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
        Ok(allot_core::access::approval_chain(&owner, 1, &teams, &reps)
            .into_iter()
            .next()
            .flatten())
    }

    /// Opens the transfer of a `move` decision and gives the approvals the decider can give.
    #[allow(clippy::too_many_arguments)]
    async fn move_through_transfer(
        &self,
        write: &mut WriteTransaction,
        principal: &Principal,
        view: &super::View,
        policy: &allot_core::value::ValuePolicy,
        customer: &CustomerId,
        from: RepId,
        to: &RepId,
        conflict: i64,
        comment: &str,
        clock: Clock,
    ) -> StoreResult<i64> {
        let request = TransferRequest {
            customer_ids: vec![customer.clone()],
            from,
            to: TransferTarget::Rep(to.clone()),
            reason_kind: TransferReason::Conflict,
            text: format!("conflict {conflict}: {comment}"),
        };
        let text = request.text.clone();
        let organisation = ApprovalOrganisation::load(&mut *write).await?;
        let transfer = self
            .request_transfer_in(
                write,
                principal,
                view,
                policy,
                &organisation,
                &request,
                &text,
                clock,
            )
            .await?;
        // An admin's decision is every approval (as for a departure); a manager's is its own
        // level, which asking for the transfer gave already.
        if principal.is_admin() {
            self.approve_all_levels(
                write,
                principal,
                transfer,
                &format!("decided in conflict {conflict}"),
                clock,
                policy,
            )
            .await?;
        }
        Ok(transfer)
    }
}

/// A conflict the caller can see, for a step.
async fn acting_on(
    write: &mut WriteTransaction,
    principal: &Principal,
    id: i64,
) -> StoreResult<ConflictRow> {
    load_conflict(write, id)
        .await?
        .filter(|row| row.in_view(principal))
        .ok_or_else(|| conflict_not_found(id))
}

/// The conflict as it stands after a step, read in the step's transaction, which then commits.
async fn finish(
    mut write: WriteTransaction,
    id: i64,
    principal: &Principal,
) -> StoreResult<ConflictDocument> {
    let row = load_conflict(&mut write, id)
        .await?
        .ok_or_else(|| conflict_not_found(id))?;
    let document = document(&mut write, row, principal).await?;
    write.commit().await?;
    Ok(document)
}

fn conflict_not_found(id: i64) -> StoreError {
    StoreError::NotFound {
        entity: "conflict",
        id: id.to_string(),
    }
}

fn wrong_state(row: &ConflictRow, step: &str) -> StoreError {
    StoreError::Denied {
        code: "conflict_state",
        message: format!(
            "conflict {} is {}; it cannot be {step} now",
            row.id, row.state
        ),
    }
}

fn rep_id(raw: &str) -> StoreResult<RepId> {
    RepId::parse(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn customer_id(raw: &str) -> StoreResult<CustomerId> {
    CustomerId::parse(raw).map_err(|error| StoreError::Corrupt(error.to_string()))
}
