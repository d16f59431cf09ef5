//! Every graded customer's stored value as a flat row, for `allot export values`: a table a
//! sales-ops lead can sort and filter in a spreadsheet.

use allot_core::Money;

use crate::database::{on_backend, sql, Dialect};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

/// One graded customer's value as it stands: the last grading's measures, the current tier
/// and the current health.
#[derive(Debug, Clone, sqlx::FromRow)]
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
        mut each: impl FnMut(&[ValueRow]) -> Result<(), E>,
    ) -> Result<(), E> {
        const CHUNK: i64 = 10_000;
        let mut read = self.database.begin_read().await?;
        let mut after: Option<String> = None;
        loop {
            let chunk: Vec<ValueRow> = async {
                StoreResult::Ok(on_backend!(&mut read, |connection, Db| {
                let id_order = Db::byte_order("customer_values.customer_id");
                let mut query = sql!(Db; "SELECT customer_values.customer_id, customers.owner_id,
                        customer_values.tier, customer_values.computed_tier, customer_values.abc,
                        customer_values.score, customer_values.rfm_segment,
                        customer_values.recency_days, customer_values.frequency,
                        customer_values.monetary_minor, customer_values.recency_score,
                        customer_values.frequency_score, customer_values.monetary_score,
                        customer_values.p_alive, customer_values.expected_purchases,
                        customer_values.clv, customer_values.health, customer_values.at_risk,
                        customer_values.health_parts, customer_values.as_of
                     FROM customer_values JOIN customers ON customers.id = customer_values.customer_id");
                if let Some(after) = &after {
                    query
                        .push(format!(" WHERE {id_order} > "))
                        .push_bind(after.as_str());
                }
                query
                    .push(format!(" ORDER BY {id_order} LIMIT "))
                    .push_bind(CHUNK);
                query.build_query_as().fetch_all(&mut *connection).await?
                }))
            }
            .await?;
            each(&chunk)?;
            match chunk.last() {
                Some(last) if chunk.len() as i64 == CHUNK => after = Some(last.customer_id.clone()),
                _ => return Ok(()),
            }
        }
    }
}
