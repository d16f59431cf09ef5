//! Notifications: reclaim warnings, reclaims, transfer steps, conflicts and disputes stored for
//! their recipients in the transaction of the change they tell of, and queued in an outbox for
//! the webhook when one is configured.

use std::collections::HashSet;

use allot_core::access::Principal;
use allot_core::{CustomerId, RepId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database::bulk::{insert_rows, InsertRows, Kind, Transfer, Value};
use crate::database::{on_backend, sql, Connected, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

/// One notification, as `GET /api/v1/notifications` lists it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    /// The rep it is for; null: for the admins.
    pub recipient_rep_id: Option<String>,
    /// `reclaim_warning`, `reclaimed`, `transfer_requested`, `transfer_approved`,
    /// `transfer_rejected`, `transfer_accepted`, `transfer_declined`, `transfer_cancelled`,
    /// `rep_left`.
    pub kind: String,
    pub customer_id: Option<String>,
    pub transfer_id: Option<i64>,
    /// The ticket it tells of (an escalation).
    pub ticket_id: Option<String>,
    pub text: String,
    /// RFC 3339 in UTC.
    pub created_at: String,
    pub read_at: Option<String>,
}

/// A notification to store.
#[derive(Debug, Clone)]
pub(crate) struct NewNotification<'a> {
    pub recipient: Option<&'a RepId>,
    pub kind: &'a str,
    pub customer_id: Option<&'a CustomerId>,
    pub transfer_id: Option<i64>,
    pub ticket_id: Option<&'a str>,
    pub text: String,
    /// Stored once per key: a second notification with the same key is dropped.
    pub once_key: Option<String>,
}

/// Stores a notification (and queues it for the webhook when `webhook` is set); false when
/// one with the same `once_key` was stored before.
pub(crate) async fn notify(
    source: &mut impl Connected,
    notification: &NewNotification<'_>,
    at: DateTime<Utc>,
    webhook: bool,
) -> StoreResult<bool> {
    let id: Option<i64> = on_backend!(source, |connection, Db| {
        sql!(Db; "INSERT INTO notifications (recipient_rep_id, kind, customer_id, transfer_id, ticket_id, text, created_at, dedup_key) VALUES (",
            bind(notification.recipient.map(RepId::as_str)), ", ", bind(notification.kind), ", ",
            bind(notification.customer_id.map(CustomerId::as_str)), ", ", bind(notification.transfer_id), ", ",
            bind(notification.ticket_id), ", ",
            bind(notification.text.as_str()), ", ", bind(StoredTime(at)), ", ", bind(notification.once_key.as_deref()),
            ") ON CONFLICT (dedup_key) DO NOTHING RETURNING id")
        .build_query_scalar()
        .fetch_optional(&mut *connection)
        .await?
    });
    let Some(id) = id else {
        return Ok(false);
    };
    if webhook {
        on_backend!(source, |connection, Db| {
            sql!(Db; "INSERT INTO notification_outbox (notification_id, next_attempt_at) VALUES (", bind(id), ", ",
                bind(StoredTime(at)), ")")
            .build()
            .execute(&mut *connection)
            .await?;
        });
    }
    Ok(true)
}

/// Stores many notifications in a few statements, as [`notify`] stores each: one whose
/// `once_key` was stored before (or comes earlier in the list) is dropped, and with a webhook
/// each stored one is queued. Says for each whether it was stored.
pub(crate) async fn notify_all(
    source: &mut impl Connected,
    notifications: &[NewNotification<'_>],
    at: DateTime<Utc>,
    webhook: bool,
) -> StoreResult<Vec<bool>> {
    let keys: Vec<&str> = notifications
        .iter()
        .filter_map(|notification| notification.once_key.as_deref())
        .collect();
    let mut seen = stored_once_keys(source, &keys).await?;
    let stored: Vec<bool> = notifications
        .iter()
        .map(|notification| match &notification.once_key {
            Some(key) => seen.insert(key.clone()),
            None => true,
        })
        .collect();
    const COLUMNS: &[(&str, Kind)] = &[
        ("recipient_rep_id", Kind::Text),
        ("kind", Kind::Text),
        ("customer_id", Kind::Text),
        ("transfer_id", Kind::Integer),
        ("ticket_id", Kind::Text),
        ("text", Kind::Text),
        ("created_at", Kind::Timestamp),
        ("dedup_key", Kind::Text),
    ];
    let rows: Vec<Vec<Value<'_>>> = notifications
        .iter()
        .zip(&stored)
        .filter(|(_, stored)| **stored)
        .map(|(notification, _)| {
            vec![
                Value::text(notification.recipient.map(RepId::as_str)),
                Value::Text(notification.kind),
                Value::text(notification.customer_id.map(CustomerId::as_str)),
                Value::integer(notification.transfer_id),
                Value::text(notification.ticket_id),
                Value::Text(&notification.text),
                Value::Timestamp(at),
                Value::text(notification.once_key.as_deref()),
            ]
        })
        .collect();
    if rows.is_empty() {
        return Ok(stored);
    }
    // Writers of notifications hold the write lock, so the rows above the newest id now are
    // exactly the ones inserted here.
    let newest_before: i64 = if webhook {
        on_backend!(&mut *source, |connection, Db| {
            sql!(Db; "SELECT COALESCE(MAX(id), 0) FROM notifications")
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        })
    } else {
        0
    };
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "notifications",
            columns: COLUMNS,
            rows: &rows,
            on_conflict: None,
            never_clash: false,
        },
        Transfer::for_rows(rows.len()),
    )
    .await?;
    if webhook {
        on_backend!(&mut *source, |connection, Db| {
            sql!(Db; "INSERT INTO notification_outbox (notification_id, next_attempt_at) SELECT id, ",
                bind(StoredTime(at)), " FROM notifications WHERE id > ", bind(newest_before), " ORDER BY id")
            .build()
            .execute(&mut *connection)
            .await?;
        });
    }
    Ok(stored)
}

/// Which of `keys` notifications were stored under before.
pub(crate) async fn stored_once_keys(
    source: &mut impl Connected,
    keys: &[&str],
) -> StoreResult<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in keys.chunks(LIST_CHUNK) {
        let stored: Vec<String> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "SELECT dedup_key FROM notifications WHERE ");
            query.push_in_list("dedup_key", chunk);
            query
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?
        });
        found.extend(stored);
    }
    Ok(found)
}

#[derive(sqlx_macros::FromRow)]
struct NotificationRow {
    id: i64,
    recipient_rep_id: Option<String>,
    kind: String,
    customer_id: Option<String>,
    transfer_id: Option<i64>,
    ticket_id: Option<String>,
    text: String,
    created_at: StoredTime,
    read_at: Option<StoredTime>,
}

impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Notification {
        Notification {
            id: row.id,
            recipient_rep_id: row.recipient_rep_id,
            kind: row.kind,
            customer_id: row.customer_id,
            transfer_id: row.transfer_id,
            ticket_id: row.ticket_id,
            text: row.text,
            created_at: row.created_at.text(),
            read_at: row.read_at.map(StoredTime::text),
        }
    }
}

impl Store {
    /// The caller's notifications, newest first: a rep's own, an admin's those for admins.
    pub async fn list_notifications(
        &self,
        principal: &Principal,
        unread_only: bool,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        let recipient = principal.rep().map(RepId::as_str);
        let mut connection = self.database.acquire().await?;
        let rows: Vec<NotificationRow> = on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, recipient_rep_id, kind, customer_id, transfer_id, ticket_id, text, created_at, read_at FROM notifications WHERE ");
            match recipient {
                Some(rep) => query.push("recipient_rep_id = ").push_bind(rep),
                None => query.push("recipient_rep_id IS NULL"),
            };
            if unread_only {
                query.push(" AND read_at IS NULL");
            }
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(limit.clamp(1, 1000));
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    /// Marks one of the caller's notifications read (another's is "not found").
    pub async fn mark_notification_read(
        &self,
        principal: &Principal,
        id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let recipient = principal.rep().map(RepId::as_str);
        let mut write = self.begin_write().await?;
        let changed = on_backend!(&mut write, |connection, Db| {
            let mut query = sql!(Db; "UPDATE notifications SET read_at = COALESCE(read_at, ", bind(StoredTime(at)),
                ") WHERE id = ", bind(id), " AND ");
            match recipient {
                Some(rep) => query.push("recipient_rep_id = ").push_bind(rep),
                None => query.push("recipient_rep_id IS NULL"),
            };
            query
                .build()
                .execute(&mut *connection)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound {
                entity: "notification",
                id: id.to_string(),
            });
        }
        write.commit().await?;
        Ok(())
    }
}

/// How long a claimed delivery is left to its sender before another may try it.
const DELIVERY_LEASE_SECONDS: i64 = 120;

/// A notification due for the webhook, claimed for one attempt.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub notification: Notification,
    /// This attempt's number, from 1.
    pub attempt: i64,
    pub webhook_url: String,
}

/// Seconds to wait after failed attempt `attempt`: 30 s, doubling, at most six hours.
pub fn retry_delay_seconds(attempt: i64) -> i64 {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    (30_i64 << doublings).min(6 * 3600)
}

impl Store {
    /// Claims up to `limit` notifications due for the webhook as of `now`: each is leased to
    /// this caller for two minutes (so two servers do not send it together) and its attempt
    /// counted. Nothing when no webhook is configured.
    pub async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<DueDelivery>> {
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let Some(url) = policy.notify.webhook_url.clone() else {
            return Ok(Vec::new());
        };
        let rows: Vec<(NotificationRow, i64)> = on_backend!(&mut write, |connection, Db| {
            let rows: Vec<(i64, i64)> = sql!(Db; "SELECT notification_id, attempts FROM notification_outbox WHERE delivered_at IS NULL AND next_attempt_at <= ",
                bind(StoredTime(now)), " ORDER BY next_attempt_at, notification_id LIMIT ", bind(limit.clamp(1, 1000)))
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
            let mut claimed = Vec::with_capacity(rows.len());
            for (id, attempts) in rows {
                sql!(Db; "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ",
                    bind(StoredTime(now + chrono::Duration::seconds(DELIVERY_LEASE_SECONDS))),
                    " WHERE notification_id = ", bind(id))
                .build()
                .execute(&mut *connection)
                .await?;
                let row: NotificationRow = sql!(Db; "SELECT id, recipient_rep_id, kind, customer_id, transfer_id, ticket_id, text, created_at, read_at FROM notifications WHERE id = ", bind(id))
                    .build_query_as()
                    .fetch_one(&mut *connection)
                    .await?;
                claimed.push((row, attempts + 1));
            }
            claimed
        });
        write.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(row, attempt)| DueDelivery {
                notification: Notification::from(row),
                attempt,
                webhook_url: url.clone(),
            })
            .collect())
    }

    /// Records one attempt in the delivery log: a success (a 2xx `status`) marks the
    /// notification delivered, so it is never sent again; a failure schedules the next try.
    pub async fn record_delivery(
        &self,
        delivery: &DueDelivery,
        status: Option<u16>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let succeeded = status.is_some_and(|status| (200..300).contains(&status));
        let id = delivery.notification.id;
        let mut write = self.begin_write().await?;
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "INSERT INTO notification_deliveries (notification_id, at, attempt, status, error) VALUES (",
                bind(id), ", ", bind(StoredTime(now)), ", ", bind(delivery.attempt), ", ", bind(status.map(i64::from)), ", ", bind(error), ")")
            .build()
            .execute(&mut *connection)
            .await?;
            if succeeded {
                sql!(Db; "UPDATE notification_outbox SET delivered_at = ", bind(StoredTime(now)), ", last_error = NULL WHERE notification_id = ", bind(id))
                    .build()
                    .execute(&mut *connection)
                    .await?;
            } else {
                let next = now + chrono::Duration::seconds(retry_delay_seconds(delivery.attempt));
                sql!(Db; "UPDATE notification_outbox SET next_attempt_at = ", bind(StoredTime(next)), ", last_error = ",
                    bind(error.unwrap_or("not a 2xx answer")), " WHERE notification_id = ", bind(id))
                    .build()
                    .execute(&mut *connection)
                    .await?;
            }
        });
        write.commit().await?;
        Ok(())
    }

    /// The delivery log of one notification, oldest first: (attempt, status, error).
    pub async fn deliveries_of(
        &self,
        notification_id: i64,
    ) -> StoreResult<Vec<(i64, Option<i64>, Option<String>)>> {
        let mut connection = self.database.acquire().await?;
        Ok(on_backend!(&mut connection, |connection, Db| {
            sql!(Db; "SELECT attempt, status, error FROM notification_deliveries WHERE notification_id = ", bind(notification_id), " ORDER BY id")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?
        }))
    }
}
