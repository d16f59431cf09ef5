//! Schema migrations: SQL files per backend under `migrations/`, embedded and run by `sqlx::migrate!`.
//!
//! Allot 0.1 ran its own migrations and recorded them in `schema_migrations` (versions 1 to 7).
//! The first sqlx migration is that schema written to change nothing where it already exists,
//! so a database of that release moves forward through the same files as a new one.

use sqlx::migrate::Migrator;

use super::{on_backend, sql, Database, Pool};
use crate::error::{StoreError, StoreResult};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The last version Allot 0.1's own runner wrote; older databases of development builds are
/// not carried forward.
const LAST_LEGACY_VERSION: i64 = 7;

impl Database {
    /// Applies pending migrations (each in its own transaction; on PostgreSQL under sqlx's
    /// advisory lock, so several `allot serve` starting together do not race).
    pub(crate) async fn migrate(&self) -> StoreResult<()> {
        self.refuse_unfinished_legacy_schema().await?;
        let result = match &self.pool {
            Pool::Sqlite(pool) => {
                let _writer = self.sqlite_writer.lock().await;
                SQLITE_MIGRATIONS.run(pool).await
            }
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        };
        result.map_err(|error| StoreError::Migration(error.to_string()))
    }

    /// A database of Allot 0.1 must be at that release's last version: the first migration
    /// takes exactly that schema forward.
    async fn refuse_unfinished_legacy_schema(&self) -> StoreResult<()> {
        let mut connection = self.acquire().await?;
        let legacy_version: Option<i64> = on_backend!(&mut connection, |connection, Db| {
            let exists: bool = match <Db as super::Dialect>::BACKEND {
                super::Backend::Sqlite => sql!(Db;
                    "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
                    .build_query_scalar()
                    .fetch_one(&mut *connection)
                    .await?,
                super::Backend::Postgres => sql!(Db; "SELECT to_regclass('schema_migrations') IS NOT NULL")
                    .build_query_scalar()
                    .fetch_one(&mut *connection)
                    .await?,
            };
            if exists {
                sql!(Db; "SELECT MAX(version) FROM schema_migrations")
                    .build_query_scalar()
                    .fetch_one(&mut *connection)
                    .await?
            } else {
                None
            }
        });
        match legacy_version {
            Some(version) if version != LAST_LEGACY_VERSION => Err(StoreError::Migration(format!(
                "this database was written by a development build of Allot (schema version {version}); \
                 open it once with Allot 0.1 to bring it to version {LAST_LEGACY_VERSION}, or start a new database"
            ))),
            _ => Ok(()),
        }
    }
}
