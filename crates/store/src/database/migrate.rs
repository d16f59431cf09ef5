//! Schema migrations: SQL files per backend under `migrations/`, embedded by the build script
//! and run by sqlx's migrator.
//!
//! Allot 0.1 ran its own migrations and recorded them in `schema_migrations` (versions 1 to 7).
//! The first sqlx migration is that schema written to change nothing where it already exists,
//! so a database of that release moves forward through the same files as a new one.

use std::borrow::Cow;

use futures_core::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::{on_backend, sql, Database, Pool};
use crate::error::{StoreError, StoreResult};

include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));

/// Migration files compiled into the binary, as (file name, SQL) in version order, read the way
/// sqlx reads a directory (`0005_ownership_lifecycle.sql`: version 5, description "ownership
/// lifecycle"), so databases migrated by earlier builds keep matching their checksums.
#[derive(Debug)]
struct EmbeddedMigrations(&'static [(&'static str, &'static str)]);

impl EmbeddedMigrations {
    fn migrations(&self) -> Result<Vec<Migration>, BoxDynError> {
        self.0
            .iter()
            .map(|(file_name, sql)| {
                let (version, rest) = file_name
                    .split_once('_')
                    .ok_or_else(|| format!("migration file {file_name} has no version prefix"))?;
                let version: i64 = version.parse().map_err(|_| {
                    format!("migration file {file_name}: {version} is not a version")
                })?;
                let description = rest.trim_end_matches(".sql").replace('_', " ");
                // sqlx's own opt-out of the migration's transaction, kept for its file format.
                let no_transaction = sql.starts_with("-- no-transaction");
                Ok(Migration::new(
                    version,
                    Cow::Owned(description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    no_transaction,
                ))
            })
            .collect()
    }
}

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move { self.migrations() })
    }
}

/// The last version Allot 0.1's own runner wrote; older databases of development builds are
/// not carried forward.
const LAST_LEGACY_VERSION: i64 = 7;

impl Database {
    /// Applies pending migrations (each in its own transaction; on PostgreSQL under sqlx's
    /// advisory lock, so several `allot serve` starting together do not race).
    pub(crate) async fn migrate(&self) -> StoreResult<()> {
        self.refuse_unfinished_legacy_schema().await?;
        let files = match &self.pool {
            Pool::Sqlite(_) => SQLITE_MIGRATION_FILES,
            Pool::Postgres(_) => POSTGRES_MIGRATION_FILES,
        };
        let migrator = Migrator::new(EmbeddedMigrations(files))
            .await
            .map_err(|error| StoreError::Migration(error.to_string()))?;
        let result = match &self.pool {
            Pool::Sqlite(pool) => {
                let _writer = self.sqlite_writer.lock().await;
                migrator.run(pool).await
            }
            Pool::Postgres(pool) => migrator.run(pool).await,
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The embedded migrations are what sqlx reads from the directories (as `sqlx::migrate!`,
    /// which wrote every database so far, did): same versions, descriptions and checksums.
    #[tokio::test]
    async fn embedded_migrations_match_the_directories() {
        for (files, directory) in [
            (SQLITE_MIGRATION_FILES, "migrations/sqlite"),
            (POSTGRES_MIGRATION_FILES, "migrations/postgres"),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(directory);
            let from_directory = Migrator::new(path.as_path()).await.unwrap();
            let embedded = Migrator::new(EmbeddedMigrations(files)).await.unwrap();
            let summary = |migrator: &Migrator| -> Vec<(i64, String, Vec<u8>, bool)> {
                migrator
                    .iter()
                    .map(|migration| {
                        (
                            migration.version,
                            migration.description.to_string(),
                            migration.checksum.to_vec(),
                            migration.no_tx,
                        )
                    })
                    .collect()
            };
            assert!(embedded.iter().next().is_some(), "{directory} is empty");
            assert_eq!(summary(&embedded), summary(&from_directory), "{directory}");
        }
    }
}
