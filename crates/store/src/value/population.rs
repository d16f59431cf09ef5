//! Everything a grading or health run reads about the customers, from its transaction.

use std::collections::{BTreeMap, HashMap};

use allot_core::value::{daily_purchases, CustomerValueInput, PurchaseDay, TierOverride};
use allot_core::{Clock, CustomerId};
use sqlx::types::Json;

use super::corrupt;
use super::overrides::{OverrideRow, OVERRIDE_COLUMNS};
use crate::activity::CustomerActivity;
use crate::database::direct::read_all_rows;
use crate::database::{on_backend, sql, Connected};
use crate::error::StoreResult;
use crate::tickets::TicketSpan;
use crate::Store;

/// A customer as grading reads it.
pub(crate) struct PopulationCustomer {
    pub id: CustomerId,
    pub owner_id: Option<String>,
    pub tier: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Every customer with its activity, tickets and open health alerts.
pub(crate) struct Population {
    pub customers: Vec<PopulationCustomer>,
    pub activity: BTreeMap<String, CustomerActivity>,
    /// `None` when no ticket was ever recorded (tickets are then unknown, not zero).
    pub tickets: Option<BTreeMap<String, Vec<TicketSpan>>>,
    /// Open health alert id by customer.
    pub open_alerts: HashMap<String, i64>,
}

/// Whether a reading of the population takes each customer's attributes: grading scores by
/// them, the daily health refresh does not (parsing a million attribute maps was a quarter of
/// its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attributes {
    Read,
    Skip,
}

impl Store {
    pub(crate) async fn population_in(
        &self,
        source: &mut impl Connected,
        attributes: Attributes,
    ) -> StoreResult<Population> {
        let statement = match attributes {
            Attributes::Read => "SELECT id, owner_id, tier, attributes FROM customers",
            Attributes::Skip => "SELECT id, owner_id, tier FROM customers",
        };
        let read_attributes = |raw: Option<&str>| -> StoreResult<BTreeMap<String, String>> {
            raw.map(serde_json::from_str)
                .transpose()
                .map_err(corrupt)
                .map(Option::unwrap_or_default)
        };
        let mut customers = read_all_rows(
            &mut *source,
            statement,
            |row| {
                Ok(PopulationCustomer {
                    id: CustomerId::parse(row.get_ref(0)?.as_str().map_err(corrupt)?)
                        .map_err(corrupt)?,
                    owner_id: row.get(1)?,
                    tier: row.get(2)?,
                    attributes: match attributes {
                        Attributes::Read => {
                            read_attributes(row.get_ref(3)?.as_str_or_null().map_err(corrupt)?)?
                        }
                        Attributes::Skip => BTreeMap::new(),
                    },
                })
            },
            |row: PostgresCustomerRow| {
                Ok(PopulationCustomer {
                    id: CustomerId::parse(&row.id).map_err(corrupt)?,
                    owner_id: row.owner_id,
                    tier: row.tier,
                    attributes: row.attributes.map(|Json(map)| map).unwrap_or_default(),
                })
            },
        )
        .await?;
        // Byte order of ids, the same on both backends, so runs are reproducible.
        customers.sort_by(|left, right| left.id.cmp(&right.id));
        let activity = self.load_activity(source).await?;
        let tickets = self.load_tickets(source).await?;
        let open_alerts: Vec<(String, i64)> = on_backend!(&mut *source, |connection, Db| {
            sql!(Db; "SELECT customer_id, id FROM alerts WHERE status = 'open' AND kind = 'health'")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?
        });
        Ok(Population {
            customers,
            activity,
            tickets,
            open_alerts: open_alerts.into_iter().collect(),
        })
    }
}

/// A customer's row as PostgreSQL returns it (`attributes` absent when not read).
#[derive(sqlx_macros::FromRow)]
struct PostgresCustomerRow {
    id: String,
    owner_id: Option<String>,
    tier: Option<String>,
    #[sqlx(default)]
    attributes: Option<Json<BTreeMap<String, String>>>,
}

/// Every stored override by customer.
pub(crate) async fn overrides_in(
    source: &mut impl Connected,
) -> StoreResult<HashMap<String, TierOverride>> {
    let rows: Vec<OverrideRow> = on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT {OVERRIDE_COLUMNS} FROM tier_overrides"))
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.customer_id,
                TierOverride {
                    tier: row.tier,
                    reason: row.reason,
                    expires_on: row.expires_on,
                },
            )
        })
        .collect())
}

impl Population {
    /// Each customer's purchase days as of the clock. Purchases after the clock are not known
    /// yet as of the clock: a re-run "as of" an earlier date gives the answer that date would.
    pub(crate) fn purchase_days(&self, clock: Clock) -> Vec<Vec<PurchaseDay>> {
        self.customers
            .iter()
            .map(|customer| {
                let known: Vec<_> = self
                    .activity
                    .get(customer.id.as_str())
                    .map(|activity| activity.transactions.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .copied()
                    .filter(|(at, _)| *at <= clock.now())
                    .collect();
                daily_purchases(&known)
            })
            .collect()
    }

    /// Grading inputs in customer order; `measured` is (clv, p_alive) per customer. Activity
    /// and attributes are taken out of the population, which is read once per run (a copy of a
    /// million customers' attributes was a tenth of the daily health refresh).
    pub(crate) fn value_inputs(
        &mut self,
        purchase_days: Vec<Vec<PurchaseDay>>,
        measured: &[(Option<f64>, Option<f64>)],
        overrides: &HashMap<String, TierOverride>,
        clock: Clock,
    ) -> Vec<CustomerValueInput> {
        let now = clock.now();
        let tickets = &self.tickets;
        let activities = &mut self.activity;
        self.customers
            .iter_mut()
            .zip(purchase_days)
            .zip(measured)
            .map(|((customer, purchase_days), &(clv, p_alive))| {
                let activity = activities.remove(customer.id.as_str()).unwrap_or_default();
                // Touches after the clock have not happened yet as of the clock.
                let known: Vec<_> = activity
                    .interactions
                    .iter()
                    .filter(|(at, _)| *at <= now)
                    .collect();
                let spans: &[TicketSpan] = tickets
                    .as_ref()
                    .and_then(|tickets| tickets.get(customer.id.as_str()))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let opened: Vec<&TicketSpan> =
                    spans.iter().filter(|(opened, _)| *opened <= now).collect();
                let open = opened
                    .iter()
                    .filter(|(_, closed)| closed.is_none_or(|closed| closed > now))
                    .count();
                CustomerValueInput {
                    customer_id: customer.id.clone(),
                    purchase_days,
                    clv,
                    p_alive,
                    interaction_minutes: known.iter().map(|(_, minutes)| minutes).sum(),
                    interaction_days: known.iter().map(|(at, _)| at.date_naive()).collect(),
                    open_tickets: tickets.as_ref().map(|_| open as u32),
                    tickets_opened: opened.len() as u32,
                    attributes: std::mem::take(&mut customer.attributes),
                    tier_override: overrides.get(customer.id.as_str()).cloned(),
                }
            })
            .collect()
    }
}
