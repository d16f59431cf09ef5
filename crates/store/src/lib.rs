//! Persistence of Allot on SQLite (embedded default) and PostgreSQL (multi-instance), with the event log.
//!
//! One set of SQL texts serves both backends through sqlx's Any driver: placeholders are
//! `$N` (SQLite accepts them too) and column types are portable. Every write that touches
//! ownership runs in one transaction under the routing lock, together with its event.

pub mod activity;
pub mod auth;
mod batch;
pub mod clv_estimates;
pub mod customers;
pub mod error;
pub mod events;
pub mod organisation;
pub mod routing;
mod rows;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tickets;
pub mod value;

use std::sync::{Arc, Mutex as StdMutex};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use error::{StoreError, StoreResult};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Arbitrary constant naming Allot's routing lock among PostgreSQL advisory locks.
const ROUTING_LOCK_KEY: i64 = 0x0061_6c6c_6f74;

/// Parsed rules by version, so a busy API does not re-parse TOML per request and stored traces
/// are written in words against the version they were made with. Versions never change.
type CachedRules = std::collections::HashMap<i64, Arc<allot_core::rules::RuleSet>>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer; serialising writers in-process avoids SQLITE_BUSY on lock upgrades.
    sqlite_writer: Arc<Mutex<()>>,
    rules_cache: Arc<StdMutex<CachedRules>>,
    /// The engine of the last successful routing transaction, reused while the database's
    /// routing generation is unchanged; rebuilding it per API call was most of its cost.
    engine_cache: Arc<StdMutex<Option<routing::CachedEngine>>>,
    /// Verified token hashes, their holders' names and when the database last confirmed them.
    token_cache: Arc<StdMutex<crate::auth::TokenCache>>,
}

/// A write transaction that holds the routing lock until commit or drop.
pub struct WriteTransaction {
    pub transaction: Transaction<'static, Any>,
    pub(crate) backend: Backend,
    _sqlite_guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub async fn commit(self) -> StoreResult<()> {
        self.transaction.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Connects to `sqlite://PATH` or `postgres://…` and runs pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let (backend, connect_url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let separator = if path.contains('?') { '&' } else { '?' };
            let url = if path.contains("mode=") {
                url.to_string()
            } else {
                format!("{url}{separator}mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("sqlite:") {
            (Backend::Sqlite, url.to_string())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let options = AnyPoolOptions::new().max_connections(match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        });
        let options = if backend == Backend::Sqlite {
            options.after_connect(|connection, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the single writer; NORMAL sync is durable
                    // across application crashes, which is the guarantee an embedded store needs.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 10000",
                        // Reading pages through a memory map saves a system call per page,
                        // which showed in profiles of single-customer routing.
                        "PRAGMA mmap_size = 268435456",
                        "PRAGMA cache_size = -32768",
                    ] {
                        sqlx::Executor::execute(&mut *connection, pragma).await?;
                    }
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(&connect_url).await?;
        let store = Store {
            pool,
            backend,
            sqlite_writer: Arc::new(Mutex::new(())),
            rules_cache: Arc::new(StdMutex::new(CachedRules::new())),
            engine_cache: Arc::new(StdMutex::new(None)),
            token_cache: Arc::new(StdMutex::new(Default::default())),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// An ORDER BY term that sorts text by bytes on both backends (PostgreSQL would otherwise
    /// use the database's locale), so listings and routing order are the same everywhere.
    pub(crate) fn byte_order(&self, column: &str) -> String {
        match self.backend {
            Backend::Sqlite => column.to_string(),
            Backend::Postgres => format!("{column} COLLATE \"C\""),
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies pending migrations; on PostgreSQL under an advisory lock so that several
    /// `allot serve` processes starting together do not race.
    async fn migrate(&self) -> StoreResult<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL)",
        )
        .execute(&mut *write.transaction)
        .await?;
        let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(&mut *write.transaction)
            .await?
            .iter()
            .map(|row: &AnyRow| row.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
        for migration in schema::MIGRATIONS {
            if applied.contains(&migration.version) {
                continue;
            }
            let parts = match self.backend {
                Backend::Sqlite => migration.sqlite,
                Backend::Postgres => migration.postgres,
            };
            for sql in parts {
                sqlx::raw_sql(sql).execute(&mut *write.transaction).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)")
                .bind(migration.version)
                .bind(migration.description)
                .execute(&mut *write.transaction)
                .await?;
        }
        write.commit().await
    }

    /// A read-only transaction that sees one snapshot for all its statements (PostgreSQL's
    /// default, read committed, would give each statement its own).
    pub(crate) async fn begin_read(&self) -> StoreResult<Transaction<'static, Any>> {
        let mut transaction = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *transaction)
                .await?;
        }
        Ok(transaction)
    }

    /// Begins a transaction holding the routing lock: the in-process writer lock on SQLite,
    /// a transaction-scoped advisory lock on PostgreSQL (shared by every `allot serve`).
    pub async fn begin_write(&self) -> StoreResult<WriteTransaction> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let mut transaction = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS routing_lock")
                .bind(ROUTING_LOCK_KEY)
                .execute(&mut *transaction)
                .await?;
        } else {
            // Take SQLite's write lock now rather than on the first write, so a reader
            // that becomes a writer never fails with SQLITE_BUSY mid-transaction.
            sqlx::query("UPDATE schema_migrations SET version = version WHERE 0 = 1")
                .execute(&mut *transaction)
                .await
                .or_else(|error| match &error {
                    // During the very first migration the table may not exist yet.
                    sqlx::Error::Database(_) => Ok(Default::default()),
                    _ => Err(error),
                })?;
        }
        Ok(WriteTransaction {
            transaction,
            backend: self.backend,
            _sqlite_guard: guard,
        })
    }
}

/// Stores a new version of a versioned document (rules, value policy) in `table`, which has
/// the columns `version, source, actor, created_at`; old versions are kept.
pub(crate) async fn insert_document_version(
    write: &mut WriteTransaction,
    table: &'static str,
    source: &str,
    actor: &str,
    clock: allot_core::Clock,
) -> StoreResult<i64> {
    let version: i64 = sqlx::query(&format!(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM {table}"
    ))
    .fetch_one(&mut *write.transaction)
    .await?
    .try_get(0)?;
    sqlx::query(&format!(
        "INSERT INTO {table} (version, source, actor, created_at) VALUES ($1, $2, $3, $4)"
    ))
    .bind(version)
    .bind(source)
    .bind(actor)
    .bind(format_timestamp(clock.now()))
    .execute(&mut *write.transaction)
    .await?;
    Ok(version)
}

/// Timestamps are stored as fixed-width RFC 3339 text in UTC, so text order is time order.
pub fn format_timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
