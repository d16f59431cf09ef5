//! The webhook sender: notifications queued in the outbox (in the transaction of the change
//! they tell of) are POSTed as JSON, each attempt logged; a failure is retried with growing
//! delays, and a notification whose delivery succeeded is never sent again.

use std::time::Duration;

use allot_core::Clock;
use allot_store::{Store, StoreResult};
use serde::Serialize;

/// What one pass of the sender did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub failed: usize,
}

/// How long one POST may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends every notification due as of the clock once, and logs each attempt.
pub async fn deliver_due_notifications(
    store: &Store,
    client: &reqwest::Client,
    clock: Clock,
) -> StoreResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    loop {
        let due = store.claim_due_deliveries(clock.now(), 100).await?;
        if due.is_empty() {
            return Ok(report);
        }
        for delivery in &due {
            let answer = client
                .post(&delivery.webhook_url)
                .timeout(REQUEST_TIMEOUT)
                .header(
                    "idempotency-key",
                    format!("allot-notification-{}", delivery.notification.id),
                )
                .json(&delivery.notification)
                .send()
                .await;
            let (status, error) = match answer {
                Ok(response) if response.status().is_success() => {
                    (Some(response.status().as_u16()), None)
                }
                Ok(response) => (
                    Some(response.status().as_u16()),
                    Some(format!("the webhook answered {}", response.status())),
                ),
                Err(error) => (None, Some(error.to_string())),
            };
            if error.is_none() {
                report.delivered += 1;
            } else {
                report.failed += 1;
            }
            store
                .record_delivery(delivery, status, error.as_deref(), clock.now())
                .await?;
        }
    }
}

/// Runs the sender every `every` for as long as the server runs.
pub fn spawn_webhook_sender(
    store: Store,
    clock: crate::ClockSource,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match deliver_due_notifications(&store, &client, clock.now()).await {
                Ok(report) if report != DeliveryReport::default() => {
                    tracing::info!(
                        delivered = report.delivered,
                        failed = report.failed,
                        "webhook deliveries"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "webhook deliveries did not run"),
            }
        }
    })
}
