//! The daily health refresh: health changes every day (recency grows, a ticket opens), so between
//! monthly re-grades it is recomputed as of the clock, and alerts open and close with it.

use std::collections::HashMap;

use allot_core::clock::Clock;
use allot_core::value::{customer_health, population_usual_gaps};
use serde::Serialize;

use super::alerts::AlertChanges;
use super::corrupt;
use super::grading::HEALTH_COLUMNS;
use super::population::Attributes;
use crate::database::bulk::{update_rows, UpdateRows, Value};
use crate::database::direct::read_all_rows;
use crate::database::Connected;
use crate::error::StoreResult;
use crate::{Store, WriteTransaction};

/// What the daily health refresh did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthSummary {
    /// Graded customers whose health was recomputed.
    pub customers: usize,
    /// Of them, those whose health is known and below the policy's `alert_below`.
    pub health_below_threshold: usize,
    /// Of them, those with no measurable health yet.
    pub health_unknown: usize,
    pub alerts_raised: usize,
    pub alerts_closed: usize,
}

impl Store {
    /// Recomputes every graded customer's health as of the clock, from the P(alive) of the
    /// last grading. Scores and tiers stay as graded: they are relative to the whole
    /// population and change monthly.
    pub(crate) async fn refresh_health_in(
        &self,
        write: &mut WriteTransaction,
        clock: Clock,
    ) -> StoreResult<HealthSummary> {
        let (_, policy) = self.policy_in(write).await?;
        let now = clock.now();
        let mut population = self.population_in(write, Attributes::Skip).await?;
        let stored_p_alive: HashMap<String, Option<f64>> = read_all_rows(
            &mut *write,
            "SELECT customer_id, p_alive FROM customer_values",
            |row| Ok((row.get(0)?, row.get(1)?)),
            Ok,
        )
        .await?
        .into_iter()
        .collect();
        let purchase_days = population.purchase_days(clock);
        let measured: Vec<(Option<f64>, Option<f64>)> = population
            .customers
            .iter()
            .map(|customer| {
                (
                    None,
                    stored_p_alive.get(customer.id.as_str()).copied().flatten(),
                )
            })
            .collect();
        let inputs = population.value_inputs(purchase_days, &measured, &HashMap::new(), clock);
        let usual_gaps = population_usual_gaps(&policy, &inputs, clock);
        let mut summary = HealthSummary::default();
        let mut refreshed = Vec::new();
        let mut alerts = AlertChanges::default();
        for (customer, input) in population.customers.iter().zip(&inputs) {
            // Never graded: the monthly re-grade gives it a value first.
            if !stored_p_alive.contains_key(customer.id.as_str()) {
                continue;
            }
            let (health, parts, at_risk) = customer_health(&policy, &usual_gaps, input, clock);
            summary.customers += 1;
            match health {
                None => summary.health_unknown += 1,
                Some(_) if at_risk => summary.health_below_threshold += 1,
                Some(_) => {}
            }
            alerts.note(customer, at_risk, health, &parts, &population.open_alerts);
            refreshed.push((
                customer.id.as_str(),
                health,
                at_risk,
                serde_json::to_string(&parts).map_err(corrupt)?,
            ));
        }
        summary.alerts_raised = alerts.raised.len();
        summary.alerts_closed = alerts.closed.len();
        let rows: Vec<Vec<Value<'_>>> = refreshed
            .iter()
            .map(|(id, health, at_risk, parts)| {
                vec![
                    Value::Text(id),
                    Value::real(*health),
                    Value::Boolean(*at_risk),
                    Value::Json(parts),
                    Value::Timestamp(now),
                ]
            })
            .collect();
        update_rows(
            write.connection(),
            &UpdateRows {
                // A narrow table of its own (migration 0021): the wide value rows stay as
                // graded.
                table: "customer_health",
                key: &HEALTH_COLUMNS[..1],
                still: None,
                set: &HEALTH_COLUMNS[1..],
                rows: &rows,
                only_if: None,
                caller_fails_unless_every_row_changes: false,
            },
        )
        .await?;
        alerts.write(write, now).await?;
        Ok(summary)
    }
}
