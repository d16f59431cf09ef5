//! API calls admitted per token, exchanged between the `allot serve` processes of one database so that a token's rate limit holds across them.
//!
//! Each server keeps its own token buckets (a database round trip per call would cost more
//! than the call) and, about once a second, adds the calls it admitted since its last exchange
//! to its published totals and reads the other servers' totals; what the others admitted since
//! it last looked is taken from its own buckets. A token's calls over all servers then stay
//! within its limit, give or take what the servers admit between two exchanges.

use allot_core::Clock;
use chrono::Duration;

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
    /// Every call the server admitted for the token since it started publishing.
    pub calls_total: i64,
    /// Of them, those of its latest report.
    pub last_calls: i64,
}

impl Store {
    /// Adds `admitted` (calls per token since this server's last exchange) to `server_id`'s
    /// published totals, forgets servers silent for [`SILENT_SERVER_FORGOTTEN_AFTER`], and
    /// returns every other server's totals. Runs beside the routing lock, never under it.
    pub async fn exchange_api_calls(
        &self,
        server_id: &str,
        admitted: &[(String, i64)],
        clock: Clock,
    ) -> StoreResult<Vec<PublishedCalls>> {
        let now = StoredTime(clock.now());
        let forgotten_before = StoredTime(clock.now() - SILENT_SERVER_FORGOTTEN_AFTER);
        let mut connection = self.database.acquire().await?;
        let rows: Vec<(String, String, i64, i64)> = on_backend!(
            &mut connection,
            |connection, Db| {
                for (token_id, calls) in admitted {
                    sql!(Db; "INSERT INTO api_call_counts (server_id, token_id, calls_total, last_calls, reported_at) VALUES (",
                    bind(server_id), ", ", bind(token_id.as_str()), ", ", bind(*calls), ", ", bind(*calls), ", ", bind(now),
                    ") ON CONFLICT (server_id, token_id) DO UPDATE SET calls_total = api_call_counts.calls_total + excluded.calls_total, last_calls = excluded.last_calls, reported_at = excluded.reported_at")
                .build()
                .execute(&mut *connection)
                .await?;
                }
                sql!(Db; "DELETE FROM api_call_counts WHERE reported_at < ", bind(forgotten_before))
                .build()
                .execute(&mut *connection)
                .await?;
                sql!(Db; "SELECT server_id, token_id, calls_total, last_calls FROM api_call_counts WHERE server_id <> ",
                bind(server_id), " ORDER BY server_id, token_id")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?
            }
        );
        Ok(rows
            .into_iter()
            .map(
                |(server_id, token_id, calls_total, last_calls)| PublishedCalls {
                    server_id,
                    token_id,
                    calls_total,
                    last_calls,
                },
            )
            .collect())
    }
}
