//! Manual tiers (客户等级人工调整): set with a reason and a last day, ended by hand or by the daily
//! job; each change is a tier event.

use allot_core::value::ValuePolicy;
use allot_core::{Clock, CustomerId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::tier_events::{direction, record_tier_events, NewTierEvent};
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime, WriteTransaction};

/// How the tier event of a manual override's reason begins (an erasure finds them by it).
pub(crate) const OVERRIDE_REASON_PREFIX: &str = "manual override";

/// A manual tier with its reason and last day.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredTierOverride {
    pub customer_id: String,
    pub tier: String,
    pub reason: String,
    /// The last day it applies (YYYY-MM-DD, inclusive).
    pub expires_on: String,
    pub actor: String,
    /// RFC 3339 in UTC.
    pub created_at: String,
}

#[derive(sqlx_macros::FromRow)]
pub(crate) struct OverrideRow {
    pub customer_id: String,
    pub tier: String,
    pub reason: String,
    pub expires_on: NaiveDate,
    pub actor: String,
    pub created_at: StoredTime,
}

impl From<OverrideRow> for StoredTierOverride {
    fn from(row: OverrideRow) -> StoredTierOverride {
        StoredTierOverride {
            customer_id: row.customer_id,
            tier: row.tier,
            reason: row.reason,
            expires_on: row.expires_on.to_string(),
            actor: row.actor,
            created_at: row.created_at.text(),
        }
    }
}

pub(crate) const OVERRIDE_COLUMNS: &str =
    "customer_id, tier, reason, expires_on, actor, created_at";

/// The customer's tier now, and its computed tier and score of the last grading, if graded.
async fn tiers_of(
    source: &mut impl Connected,
    customer_id: &str,
) -> StoreResult<Option<(Option<String>, Option<String>, Option<f64>)>> {
    Ok(on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT customers.tier, measured.computed_tier, measured.score
             FROM customers LEFT JOIN customer_values AS measured ON measured.customer_id = customers.id
             WHERE customers.id = ", bind(customer_id))
        .build_query_as()
        .fetch_optional(&mut *connection)
        .await?
    }))
}

/// Sets the tier now held by the customer and its stored value.
async fn write_tier(source: &mut impl Connected, customer_id: &str, tier: &str) -> StoreResult<()> {
    on_backend!(source, |connection, Db| {
        sql!(Db; "UPDATE customers SET tier = ", bind(tier), " WHERE id = ", bind(customer_id))
            .build()
            .execute(&mut *connection)
            .await?;
        sql!(Db; "UPDATE customer_values SET tier = ", bind(tier), " WHERE customer_id = ", bind(customer_id))
            .build()
            .execute(&mut *connection)
            .await?;
    });
    Ok(())
}

/// Deletes a customer's override and puts the last computed tier back (with a tier event when
/// the tier changes). Returns false when there was no override.
pub(crate) async fn end_override(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    customer_id: &str,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let removed = on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "DELETE FROM tier_overrides WHERE customer_id = ", bind(customer_id))
            .build()
            .execute(&mut *connection)
            .await?
            .rows_affected()
    });
    if removed == 0 {
        return Ok(false);
    }
    let (tier, computed, score) = tiers_of(write, customer_id).await?.ok_or_else(|| {
        StoreError::Corrupt(format!("an override of missing customer {customer_id}"))
    })?;
    let tier = tier.unwrap_or_default();
    // Never graded: there is no computed tier to return to; the next grading sets one.
    let to = computed.clone().unwrap_or_else(|| tier.clone());
    let from = (!tier.is_empty()).then_some(tier.as_str());
    // Logged whether or not the tier changes, like setting one.
    let reason = match &computed {
        Some(computed) if *computed != tier => {
            format!("{reason}; computed tier {computed} applies again")
        }
        Some(_) => format!("{reason}; the computed tier is the same"),
        None => format!("{reason}; not graded yet, so the tier stays until the first grading"),
    };
    record_tier_events(
        write,
        &[NewTierEvent {
            at: now,
            customer_id,
            from_tier: from,
            to_tier: &to,
            direction: direction(policy, from, &to),
            score: score.unwrap_or(0.0),
            reason,
            actor,
        }],
    )
    .await?;
    if to != tier {
        write_tier(write, customer_id, &to).await?;
    }
    Ok(true)
}

impl Store {
    /// Sets a manual tier that wins over the computed one through `expires_on` (inclusive).
    /// The customer's tier changes now, with a tier event; the next grading keeps it.
    pub async fn set_tier_override(
        &self,
        customer_id: &CustomerId,
        tier: &str,
        reason: &str,
        expires_on: NaiveDate,
        actor: &str,
        clock: Clock,
    ) -> StoreResult<StoredTierOverride> {
        // Checked here, where every caller passes: SQLite would keep a NUL that PostgreSQL refuses.
        let reason = allot_core::text::parse_free_text("reason", reason)?;
        if reason.is_empty() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "reason",
                "an override needs a reason",
            )));
        }
        if expires_on < clock.today() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "expires_on",
                format!("{expires_on} is in the past"),
            )));
        }
        let mut write = self.begin_write().await?;
        let (_, policy) = self.policy_in(&mut write).await?;
        let tier = policy.vocabulary().tier("tier", tier)?;
        let tier = tier.as_str();
        let (current_tier, _, score) = tiers_of(&mut write, customer_id.as_str())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "customer",
                id: customer_id.to_string(),
            })?;
        let current_tier = current_tier.unwrap_or_default();
        let now = clock.now();
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; format!("INSERT INTO tier_overrides ({OVERRIDE_COLUMNS}) VALUES ("),
                bind(customer_id.as_str()), ", ", bind(tier), ", ", bind(reason.as_str()), ", ",
                bind(expires_on), ", ", bind(actor), ", ", bind(StoredTime(now)),
                ") ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier, reason = excluded.reason,
                   expires_on = excluded.expires_on, actor = excluded.actor, created_at = excluded.created_at")
            .build()
            .execute(&mut *connection)
            .await?;
        });
        // Logged even when the tier stays the same: setting an override is a decision about the
        // customer's service level, and the audit trail holds every one.
        let from = (!current_tier.is_empty()).then_some(current_tier.as_str());
        record_tier_events(
            &mut write,
            &[NewTierEvent {
                at: now,
                customer_id: customer_id.as_str(),
                from_tier: from,
                to_tier: tier,
                direction: direction(&policy, from, tier),
                score: score.unwrap_or(0.0),
                reason: format!("{OVERRIDE_REASON_PREFIX} until {expires_on}: {reason}"),
                actor,
            }],
        )
        .await?;
        if current_tier != tier {
            write_tier(&mut write, customer_id.as_str(), tier).await?;
        }
        write.commit().await?;
        Ok(StoredTierOverride {
            customer_id: customer_id.to_string(),
            tier: tier.to_string(),
            reason,
            expires_on: expires_on.to_string(),
            actor: actor.to_string(),
            created_at: StoredTime(now).text(),
        })
    }

    /// Removes a manual tier. The computed tier of the last grading comes back at once, with a
    /// tier event, so the customer's tier never stays at a value nobody stands behind.
    pub async fn clear_tier_override(
        &self,
        customer_id: &CustomerId,
        actor: &str,
        clock: Clock,
    ) -> StoreResult<()> {
        let mut write = self.begin_write().await?;
        let (_, policy) = self.policy_in(&mut write).await?;
        let ended = end_override(
            &mut write,
            &policy,
            customer_id.as_str(),
            "manual override removed",
            actor,
            clock.now(),
        )
        .await?;
        if !ended {
            return Err(StoreError::NotFound {
                entity: "tier override",
                id: customer_id.to_string(),
            });
        }
        write.commit().await
    }

    /// Ends every override whose last day is before the clock's date (the daily job of `tick`).
    pub(crate) async fn expire_overrides(
        &self,
        write: &mut WriteTransaction,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<usize> {
        let (_, policy) = self.policy_in(write).await?;
        let expired: Vec<(String, NaiveDate)> = on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "SELECT customer_id, expires_on FROM tier_overrides WHERE expires_on < ",
                bind(clock.today()), format!(" ORDER BY {}", <Db as crate::database::Dialect>::byte_order("customer_id")))
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
        });
        for (customer_id, expires_on) in &expired {
            end_override(
                write,
                &policy,
                customer_id,
                &format!("manual override expired after {expires_on}"),
                actor,
                clock.now(),
            )
            .await?;
        }
        Ok(expired.len())
    }
}
