//! API calls admitted per token, exchanged between the `allot serve` processes of one database so that a token's rate limit holds across them.
//!
//! Each server keeps its own token buckets (a database round trip per call would cost more
//! than the call) and, about once a second, adds the calls it admitted since its last exchange
//! to its published totals and reads the other servers' totals; what the others admitted since
//! it last looked is taken from its own buckets.

use allot_core::Clock;
use chrono::{DateTime, Duration, Utc};

use crate::database::{on_backend, sql};
use crate::error::StoreResult;
use crate::{Store, StoredTime};

/// A server that has published nothing for this long has stopped; its rows go.
pub const SILENT_SERVER_FORGOTTEN_AFTER: Duration = Duration::days(1);

/// One server's published calls for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCalls {
    pub server_id: String,
    pub token_id: String,
    /// Every call the server admitted for the token since it first published it.
    pub calls_total: i64,
    /// Of them, those of its latest report, made at `reported_at`.
    pub last_calls: i64,
    pub reported_at: DateTime<Utc>,
}

impl Store {
    /// Adds `admitted` (calls per token since this server's last report) to `server_id`'s
    /// published totals and forgets the servers silent for
    /// [`SILENT_SERVER_FORGOTTEN_AFTER`], in one transaction: on an error nothing of the
    /// report was written, and the caller may report the calls again. Runs beside the routing
    /// lock, never under it.
    pub async fn publish_api_calls(
        &self,
        server_id: &str,
        admitted: &[(String, i64)],
        clock: Clock,
    ) -> StoreResult<()> {
        let now = StoredTime(clock.now());
        let forgotten_before = StoredTime(clock.now() - SILENT_SERVER_FORGOTTEN_AFTER);
        let mut connection = self.database.acquire().await?;
        on_backend!(&mut connection, |connection, Db| {
            let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
            for (token_id, calls) in admitted {
                sql!(Db; "INSERT INTO api_call_counts (server_id, token_id, calls_total, last_calls, reported_at) VALUES (",
                    bind(server_id), ", ", bind(token_id.as_str()), ", ", bind(*calls), ", ", bind(*calls), ", ", bind(now),
                    ") ON CONFLICT (server_id, token_id) DO UPDATE SET calls_total = api_call_counts.calls_total + excluded.calls_total, last_calls = excluded.last_calls, reported_at = excluded.reported_at")
                .build()
                .execute(&mut *transaction)
                .await?;
            }
            sql!(Db; "DELETE FROM api_call_counts WHERE server_id IN (SELECT server_id FROM api_call_counts GROUP BY server_id HAVING MAX(reported_at) < ",
                bind(forgotten_before), ")")
                .build()
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
        });
        Ok(())
    }

    /// Every other server's published totals, in server and token order.
    pub async fn api_calls_of_other_servers(
        &self,
        server_id: &str,
    ) -> StoreResult<Vec<PublishedCalls>> {
        let mut connection = self.database.acquire().await?;
        let rows: Vec<(String, String, i64, i64, StoredTime)> = on_backend!(
            &mut connection,
            |connection, Db| {
                sql!(Db; "SELECT server_id, token_id, calls_total, last_calls, reported_at FROM api_call_counts WHERE server_id <> ",
                    bind(server_id), " ORDER BY server_id, token_id")
                    .build_query_as()
                    .fetch_all(&mut *connection)
                    .await?
            }
        );
        Ok(rows
            .into_iter()
            .map(
                |(server_id, token_id, calls_total, last_calls, StoredTime(reported_at))| {
                    PublishedCalls {
                        server_id,
                        token_id,
                        calls_total,
                        last_calls,
                        reported_at,
                    }
                },
            )
            .collect())
    }
}
