//! Erasing a customer's personal data (the right to be forgotten) while keeping ids, amounts and the ownership history an audit needs.
//!
//! Erased, in one transaction: the customer's name (replaced by [`ERASED`]), phone, email,
//! credit code and every attribute that is not a number (numbers such as annual revenue are
//! business figures the rules and reports use); its duplicate-match keys; the same fields of
//! the records its 撞单 conflicts keep, the keys they matched, their evidence, comments and log
//! texts (the one change their append-only trigger allows); ticket subjects; the personal
//! facts stored in its routing traces; and what people typed about it: its ownership events'
//! reasons (a release's, a transfer's; blanking the reason is the one change the events' trigger
//! allows), its tier overrides' reasons with their tier events, its transfers' reasons and step
//! comments, and the notifications about it, its transfers and its tickets. Kept: ids, owners,
//! amounts, dates, tiers, values, the fixed texts Allot wrote (a rule's explanation), and every
//! event itself. The erasure is an event (`customer.forgotten`, owner unchanged) in the same
//! transaction.

use std::collections::BTreeMap;

use allot_core::CustomerId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use crate::database::{on_backend, sql, TextList};
use crate::error::{StoreError, StoreResult};
use crate::Store;
use crate::StoredTime;

/// A customer's custom attributes as stored (JSON text).
type Attributes = BTreeMap<String, String>;

/// What an erased text field reads as.
pub const ERASED: &str = "[erased]";

/// The kind of the event an erasure writes.
pub const FORGOTTEN_EVENT: &str = "customer.forgotten";

/// The reason kinds of ownership events whose reason is a fixed text Allot writes (a rule's
/// explanation, "owner set by import", …), never a person's words: kept by an erasure.
const FIXED_TEXT_REASON_KINDS: [&str; 4] = ["routing", "import", "manual", "claim"];

/// The customer fields that are personal data, as columns and as trace fact names.
const PERSONAL_FIELDS: [&str; 4] = ["name", "phone", "email", "credit_code"];

/// What one erasure changed.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForgetSummary {
    pub customer_id: String,
    /// Attributes erased (not numbers); numeric ones are kept.
    pub attributes_erased: usize,
    /// Duplicate-match keys removed.
    pub match_keys_removed: u64,
    /// 撞单 conflicts whose kept record and evidence were erased.
    pub conflicts_erased: usize,
    /// Tickets whose subject was erased.
    pub tickets_erased: u64,
    /// Routing decisions whose stored personal facts were erased.
    pub decisions_erased: usize,
    /// Ownership events whose reason, typed by a person, was erased.
    pub event_reasons_erased: u64,
    /// Tier overrides and their tier events whose reason was erased.
    pub tier_reasons_erased: u64,
    /// Transfers of the customer whose reason and step comments were erased.
    pub transfers_erased: u64,
    /// Notifications about the customer, its transfers or its tickets whose text was erased.
    pub notifications_erased: u64,
    /// The `customer.forgotten` event.
    pub event_id: i64,
}

/// Whether an attribute value is a business figure (a number) rather than free text.
fn is_figure(value: &str) -> bool {
    let trimmed = value.trim();
    !trimmed.is_empty() && trimmed.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Erases the personal values of a JSON object of customer fields (a conflict's kept record,
/// or a trace's facts, where attributes are `attr.KEY`); true when something changed.
fn erase_personal_values(object: &mut serde_json::Map<String, serde_json::Value>) -> bool {
    let mut changed = false;
    for (key, value) in object.iter_mut() {
        if key == "attributes" {
            if let Some(attributes) = value.as_object_mut() {
                changed |= erase_personal_values_of_attributes(attributes);
            }
            continue;
        }
        let personal = PERSONAL_FIELDS.contains(&key.as_str())
            || (key.starts_with("attr.") && !value.as_str().is_some_and(is_figure));
        if personal && value.as_str() != Some(ERASED) && value.as_str() != Some("") {
            *value = serde_json::Value::from(if key == "name" { ERASED } else { "" });
            changed = true;
        }
    }
    changed
}

fn erase_personal_values_of_attributes(
    attributes: &mut serde_json::Map<String, serde_json::Value>,
) -> bool {
    let before = attributes.len();
    attributes.retain(|_, value| value.as_str().is_some_and(is_figure));
    attributes.len() != before
}

impl Store {
    /// Erases `customer_id`'s personal data everywhere and logs the erasure, `reason` and
    /// `actor` included, as a `customer.forgotten` event. A customer erased before is a
    /// conflict (`already_forgotten`): its data is gone and the first event says when.
    pub async fn forget_customer(
        &self,
        customer_id: &CustomerId,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ForgetSummary> {
        let reason = allot_core::text::parse_text("reason", reason)?;
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "reason",
                "say why the customer's personal data is erased (the request, its date)",
            )));
        }
        let mut write = self.begin_write().await?;
        let id = customer_id.as_str();
        let summary = on_backend!(&mut write, |connection, Db| {
            let found: Option<(Option<String>, Json<Attributes>)> =
                sql!(Db; "SELECT owner_id, attributes FROM customers WHERE id = ", bind(id))
                    .build_query_as()
                    .fetch_optional(&mut *connection)
                    .await?;
            let Some((owner, Json(attributes))) = found else {
                return Err(StoreError::NotFound {
                    entity: "customer",
                    id: id.to_string(),
                });
            };
            let forgotten_before: i64 = sql!(Db; "SELECT COUNT(*) FROM events WHERE kind = ",
                bind(FORGOTTEN_EVENT), " AND customer_id = ", bind(id))
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?;
            if forgotten_before > 0 {
                return Err(StoreError::Conflict {
                    message: format!("customer {id} was forgotten already"),
                    field: None,
                });
            }
            let kept: BTreeMap<String, String> = attributes
                .iter()
                .filter(|(_, value)| is_figure(value))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            let attributes_erased = attributes.len() - kept.len();
            sql!(Db; "UPDATE customers SET name = ", bind(ERASED),
                ", phone = '', email = '', credit_code = '', attributes = ", bind(Json(&kept)),
                ", updated_at = ", bind(StoredTime(now)), " WHERE id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?;
            let match_keys_removed =
                sql!(Db; "DELETE FROM customer_match_keys WHERE customer_id = ", bind(id))
                    .build()
                    .execute(&mut *connection)
                    .await?
                    .rows_affected();

            let conflicts: Vec<(i64, Json<serde_json::Value>, Json<serde_json::Value>)> = sql!(Db;
                "SELECT id, duplicate, matched FROM conflicts WHERE customer_id = ", bind(id),
                " OR duplicate_id = ", bind(id), " ORDER BY id")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?;
            for (conflict, Json(mut duplicate), Json(mut matched)) in conflicts.iter().cloned() {
                if let Some(object) = duplicate.as_object_mut() {
                    erase_personal_values(object);
                }
                // The keys that matched are the normalised phone, email or name themselves.
                for key in matched.as_array_mut().into_iter().flatten() {
                    if let Some(key) = key.get_mut("key") {
                        *key = serde_json::Value::from(ERASED);
                    }
                }
                sql!(Db; "UPDATE conflicts SET duplicate = ", bind(Json(&duplicate)),
                    ", matched = ", bind(Json(&matched)),
                    ", evidence = CASE WHEN evidence IS NULL THEN NULL ELSE ", bind(ERASED), " END",
                    ", decision_comment = CASE WHEN decision_comment IS NULL THEN NULL ELSE ", bind(ERASED), " END",
                    " WHERE id = ", bind(conflict))
                .build()
                .execute(&mut *connection)
                .await?;
                // Their log quotes the matched keys; its text is the one thing that may change.
                sql!(Db; "UPDATE conflict_events SET text = ", bind(ERASED),
                    " WHERE conflict_id = ", bind(conflict))
                .build()
                .execute(&mut *connection)
                .await?;
            }

            let tickets_erased = sql!(Db; "UPDATE tickets SET subject = ", bind(ERASED),
                " WHERE customer_id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?
            .rows_affected();

            // Texts people typed about the customer. Its ownership events' reasons (a
            // release's, a transfer's), but for the fixed texts Allot writes itself.
            let mut query = sql!(Db; "UPDATE events SET reason = ", bind(ERASED),
                " WHERE customer_id = ", bind(id), " AND reason <> ", bind(ERASED),
                " AND (reason_kind IS NULL OR NOT ");
            query.push_in_list("reason_kind", &FIXED_TEXT_REASON_KINDS);
            query.push(")");
            let event_reasons_erased = query
                .build()
                .execute(&mut *connection)
                .await?
                .rows_affected();
            // Its manual tier overrides' reasons, and the tier events that quote them.
            let tier_reasons_erased = sql!(Db; "UPDATE tier_overrides SET reason = ", bind(ERASED),
                " WHERE customer_id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?
            .rows_affected()
                + sql!(Db; "UPDATE tier_events SET reason = ", bind(ERASED),
                    " WHERE customer_id = ", bind(id), " AND reason LIKE ",
                    bind(format!("{}%", crate::value::OVERRIDE_REASON_PREFIX)))
                .build()
                .execute(&mut *connection)
                .await?
                .rows_affected();
            // Its transfers' reasons and step comments (a transfer of several customers loses
            // its text for all of them: it may name any).
            let transfers_erased = sql!(Db; "UPDATE transfers SET text = ", bind(ERASED),
                " WHERE id IN (SELECT transfer_id FROM transfer_customers WHERE customer_id = ", bind(id), ")")
            .build()
            .execute(&mut *connection)
            .await?
            .rows_affected();
            sql!(Db; "UPDATE transfer_steps SET comment = ", bind(ERASED), " WHERE comment <> ''",
                " AND transfer_id IN (SELECT transfer_id FROM transfer_customers WHERE customer_id = ", bind(id), ")")
            .build()
            .execute(&mut *connection)
            .await?;
            // The notifications about it, its transfers and its tickets, which quote those texts.
            let notifications_erased = sql!(Db; "UPDATE notifications SET text = ", bind(ERASED),
                " WHERE customer_id = ", bind(id),
                " OR transfer_id IN (SELECT transfer_id FROM transfer_customers WHERE customer_id = ", bind(id), ")",
                " OR ticket_id IN (SELECT id FROM tickets WHERE customer_id = ", bind(id), ")")
            .build()
            .execute(&mut *connection)
            .await?
            .rows_affected();

            let decisions: Vec<(i64, String)> = sql!(Db;
                "SELECT id, trace FROM decisions WHERE customer_id = ", bind(id), " ORDER BY id")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?;
            let mut decisions_erased = 0;
            for (decision, trace) in decisions {
                let Ok(mut trace) = serde_json::from_str::<serde_json::Value>(&trace) else {
                    continue;
                };
                let changed = trace
                    .get_mut("facts")
                    .and_then(serde_json::Value::as_object_mut)
                    .is_some_and(erase_personal_values);
                if changed {
                    sql!(Db; "UPDATE decisions SET trace = ", bind(trace.to_string()),
                        " WHERE id = ", bind(decision))
                    .build()
                    .execute(&mut *connection)
                    .await?;
                    decisions_erased += 1;
                }
            }

            let event_id: i64 = sql!(Db; "INSERT INTO events (at, kind, customer_id, from_rep_id, to_rep_id, actor, reason, reason_kind) VALUES (",
                bind(StoredTime(now)), ", ", bind(FORGOTTEN_EVENT), ", ", bind(id), ", ",
                bind(owner.clone()), ", ", bind(owner), ", ", bind(actor), ", ",
                bind(reason.as_str()), ", 'erasure') RETURNING id")
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?;
            Ok::<_, StoreError>(ForgetSummary {
                customer_id: id.to_string(),
                attributes_erased,
                match_keys_removed,
                conflicts_erased: conflicts.len(),
                tickets_erased,
                decisions_erased,
                event_reasons_erased,
                tier_reasons_erased,
                transfers_erased,
                notifications_erased,
                event_id,
            })
        })?;
        write.commit().await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_values_are_erased_and_figures_kept() {
        let mut record = serde_json::json!({
            "id": "c1", "name": "浦东银行", "phone": "13800000001", "region": "上海",
            "attributes": {"annual_revenue": "3000000", "contact": "王经理"},
            "attr.note": "爱喝茶", "attr.seats": "12",
        });
        let object = record.as_object_mut().unwrap();
        assert!(erase_personal_values(object));
        assert_eq!(
            record,
            serde_json::json!({
                "id": "c1", "name": ERASED, "phone": "", "region": "上海",
                "attributes": {"annual_revenue": "3000000"},
                "attr.note": "", "attr.seats": "12",
            })
        );
        // Erasing again changes nothing.
        assert!(!erase_personal_values(record.as_object_mut().unwrap()));
        assert!(
            is_figure(" 12.5 ") && !is_figure("NaN") && !is_figure("") && !is_figure("12 seats")
        );
    }
}
