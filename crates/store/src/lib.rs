//! Persistence of Allot on SQLite (embedded default) and PostgreSQL (multi-instance), with the event log.
//!
//! Each backend is reached through its own typed sqlx driver (`database`); store code writes a
//! statement once and it is compiled for both. Every write that touches ownership runs in one
//! transaction under the routing lock, together with its event.

pub mod activity;
pub mod auth;
pub mod backup;
pub mod care;
pub mod clv_estimates;
pub mod customers;
mod database;
pub mod error;
pub mod events;
mod group_commit;
pub mod imports;
pub mod invariants;
pub mod lifecycle;
pub mod organisation;
pub mod rate_counts;
pub mod routing;
pub mod scheduler;
pub mod service_reports;
pub mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tickets;
pub mod value;

use std::sync::{Arc, Mutex as StdMutex};

use allot_core::Clock;

pub use database::time::{format_timestamp, StoredTime};
pub use database::{Backend, LockHold, WriteTransaction};
pub use error::{StoreError, StoreResult};

use database::{on_backend, sql, Database};

/// Parsed rules by version, so a busy API does not re-parse TOML per request and stored traces
/// are written in words against the version they were made with. Versions never change.
type CachedRules = std::collections::HashMap<i64, Arc<allot_core::rules::RuleSet>>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    database: Database,
    rules_cache: Arc<StdMutex<CachedRules>>,
    /// The engine of the last successful routing transaction, reused while the database's
    /// routing generation is unchanged; rebuilding it per API call was most of its cost.
    engine_cache: Arc<StdMutex<Option<routing::CachedEngine>>>,
    /// Verified token hashes, their holders' names and when the database last confirmed them.
    token_cache: Arc<StdMutex<auth::TokenCache>>,
    /// Single-customer routes waiting for the writer, which commits them together.
    route_queue: routing::queue::RouteQueue,
    /// Claims waiting for the writer, which judges and commits them together.
    claim_queue: lifecycle::claims::ClaimQueue,
    /// The newest value policy parsed, with its version (versions never change).
    policy_cache: Arc<StdMutex<Option<(i64, allot_core::value::ValuePolicy)>>>,
}

impl Store {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…` and runs pending
    /// migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let database = Database::open(url).await?;
        database.migrate().await?;
        let store = Store {
            database,
            rules_cache: Arc::new(StdMutex::new(CachedRules::new())),
            engine_cache: Arc::new(StdMutex::new(None)),
            token_cache: Arc::new(StdMutex::new(Default::default())),
            route_queue: Default::default(),
            claim_queue: Default::default(),
            policy_cache: Arc::new(StdMutex::new(None)),
        };
        store.ensure_match_keys().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.database.backend()
    }

    /// Begins a transaction holding the routing lock (see [`WriteTransaction`]).
    pub async fn begin_write(&self) -> StoreResult<WriteTransaction> {
        self.database.begin_write().await
    }

    /// How long write transactions of this process have held the routing lock so far.
    pub fn lock_hold(&self) -> LockHold {
        self.database.lock_statistics.reading()
    }

    /// Counts the routing lock's hold time afresh from now.
    pub fn reset_lock_statistics(&self) {
        self.database.lock_statistics.reset();
    }
}

/// Stores a new version of a versioned document (rules, value policy) in `table`, which has
/// the columns `version, source, actor, created_at`; old versions are kept.
pub(crate) async fn insert_document_version(
    write: &mut WriteTransaction,
    table: &'static str,
    source: &str,
    actor: &str,
    clock: Clock,
) -> StoreResult<i64> {
    on_backend!(write, |connection, Db| {
        let version: i64 = sql!(Db; format!("SELECT COALESCE(MAX(version), 0) + 1 FROM {table}"))
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?;
        sql!(Db;
            format!("INSERT INTO {table} (version, source, actor, created_at) VALUES ("),
            bind(version), ", ", bind(source), ", ", bind(actor), ", ", bind(StoredTime(clock.now())), ")")
        .build()
        .execute(&mut *connection)
        .await?;
        Ok(version)
    })
}
