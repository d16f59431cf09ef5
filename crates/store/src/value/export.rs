//! Every graded customer's stored value as a flat row, for `allot export values`: a table a
//! sales-ops lead can sort and filter in a spreadsheet.

use allot_core::Money;

use crate::database::{keyset_page, on_backend, sql, Dialect, ReadTransaction};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

/// One graded customer's value as it stands: the last grading's measures, the current tier
/// and the current health.
#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub struct ValueRow {
    pub customer_id: String,
    pub owner_id: Option<String>,
    pub tier: String,
    pub computed_tier: String,
    pub abc: String,
    pub score: f64,
    pub rfm_segment: Option<String>,
    pub recency_days: Option<i64>,
    pub frequency: Option<i64>,
    pub monetary_minor: Option<i64>,
    pub recency_score: Option<i64>,
    pub frequency_score: Option<i64>,
    pub monetary_score: Option<i64>,
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
    pub clv: Option<f64>,
    pub health: Option<f64>,
    pub at_risk: bool,
    pub health_parts: Option<sqlx::types::Json<Vec<(String, f64)>>>,
    pub as_of: StoredTime,
}

impl ValueRow {
    /// Net amount bought, exact.
    pub fn monetary(&self) -> Option<Money> {
        self.monetary_minor.map(Money::from_minor_units)
    }

    /// The known health part of that name (0..1).
    pub fn health_part(&self, name: &str) -> Option<f64> {
        self.health_parts
            .as_ref()?
            .0
            .iter()
            .find(|(part, _)| part == name)
            .map(|(_, value)| *value)
    }
}

impl Store {
    /// Every graded customer's value, by customer id, a chunk at a time.
    /// `each` may fail with its own error (one a store error converts into): the reading stops
    /// there.
    pub async fn for_each_customer_value<E: From<StoreError>>(
        &self,
        each: impl FnMut(&[ValueRow]) -> Result<(), E>,
    ) -> Result<(), E> {
        let fetch = async |read: &mut ReadTransaction, after: Option<&str>| {
            StoreResult::Ok(on_backend!(read, |connection, Db| {
                let mut query = sql!(Db; "SELECT customer_values.customer_id, customers.owner_id,
                        customer_values.tier, customer_values.computed_tier, customer_values.abc,
                        customer_values.score, customer_values.rfm_segment,
                        customer_values.recency_days, customer_values.frequency,
                        customer_values.monetary_minor, customer_values.recency_score,
                        customer_values.frequency_score, customer_values.monetary_score,
                        customer_values.p_alive, customer_values.expected_purchases,
                        customer_values.clv, customer_health.health, customer_health.at_risk,
                        customer_health.health_parts, customer_values.as_of
                     FROM customer_values JOIN customers ON customers.id = customer_values.customer_id
                     JOIN customer_health ON customer_health.customer_id = customer_values.customer_id");
                keyset_page!(query, Db::byte_order("customer_values.customer_id"), after);
                query.build_query_as().fetch_all(&mut *connection).await?
            }))
        };
        self.database
            .for_each_chunk_by_key(fetch, |row| row.customer_id.as_str(), each)
            .await
    }
}
