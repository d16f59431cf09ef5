//! Which `allot serve` runs the scheduled jobs: one leader per database, chosen by a PostgreSQL session advisory lock.
//!
//! Every job already runs once per period whoever ticks (`job_runs`, under the routing lock),
//! so leadership is not what keeps jobs single: it keeps the other servers from doing the
//! work of checking, and it names one server in `/metrics`. The lock lives as long as the
//! leader's connection, which is its own (taken out of the pool), so when the leader dies
//! PostgreSQL ends the session, the lock is free, and the next server to try takes it: within
//! one tick interval. On SQLite, one file, every server leads (the file lock serialises them).

use sqlx::Connection as _;

use crate::database::Pool;
use crate::error::StoreResult;
use crate::Store;

/// Arbitrary constant naming the scheduler's lock among PostgreSQL advisory locks (beside the
/// routing lock's).
const SCHEDULER_LOCK_KEY: i64 = 0x0061_6c6c_6f74_7363;

/// Held by the server that runs the scheduled jobs.
pub struct SchedulerLeadership {
    /// The session holding the lock (PostgreSQL); `None` on SQLite.
    session: Option<sqlx::PgConnection>,
}

impl SchedulerLeadership {
    /// Whether the lock is still held: the session answers. A session that does not is
    /// dropped, and with it the lock.
    pub async fn still_held(&mut self) -> bool {
        match &mut self.session {
            None => true,
            Some(session) => session.ping().await.is_ok(),
        }
    }
}

impl Store {
    /// Takes the scheduler's leadership if no other server holds it.
    pub async fn try_lead_scheduler(&self) -> StoreResult<Option<SchedulerLeadership>> {
        match &self.database.pool {
            Pool::Sqlite(_) => Ok(Some(SchedulerLeadership { session: None })),
            Pool::Postgres(pool) => {
                let mut session = pool.acquire().await?.detach();
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(SCHEDULER_LOCK_KEY)
                    .fetch_one(&mut session)
                    .await?;
                Ok(taken.then_some(SchedulerLeadership {
                    session: Some(session),
                }))
            }
        }
    }
}
