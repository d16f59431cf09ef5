//! Test support (feature `testing`): a fresh, empty database per test on SQLite or PostgreSQL.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::Connection;

use crate::Backend;

/// Base URL of the PostgreSQL server used by tests; `ALLOT_TEST_POSTGRES` overrides it.
pub fn postgres_server_url() -> String {
    std::env::var("ALLOT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A database that lives as long as this value (SQLite: a temp dir; PostgreSQL: a uniquely named database).
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _directory: Option<tempfile::TempDir>,
    /// The PostgreSQL database to drop when the test ends.
    postgres_name: Option<String>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDatabase {
    /// Creates a fresh database. On PostgreSQL this fails loudly when the server is unreachable:
    /// tests never skip a backend.
    pub async fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let directory = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", directory.path().join("allot.db").display());
                TestDatabase {
                    url,
                    backend,
                    _directory: Some(directory),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let server = postgres_server_url();
                let name = format!(
                    "allot_test_{}_{}_{}_{}",
                    host_tag(),
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|elapsed| elapsed.subsec_nanos())
                        .unwrap_or(0)
                );
                let mut connection = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .unwrap_or_else(|error| {
                        panic!("PostgreSQL at {server} is required for tests and is not reachable: {error}")
                    });
                if !SWEPT.swap(true, Ordering::Relaxed) {
                    drop_abandoned_databases(&mut connection).await;
                }
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut connection)
                    .await
                    .expect("create test database");
                connection.close().await.ok();
                TestDatabase {
                    url: format!("{server}/{name}"),
                    backend,
                    _directory: None,
                    postgres_name: Some(name),
                }
            }
        }
    }
}

/// Whether this process has dropped the databases earlier test processes left behind.
static SWEPT: AtomicBool = AtomicBool::new(false);

/// This host's name as lower-case letters and digits (at most 12), so that test runs on
/// several machines or containers sharing one PostgreSQL server tell their databases apart.
fn host_tag() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    let tag: String = host
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|character| character.to_ascii_lowercase())
        .take(12)
        .collect();
    if tag.is_empty() {
        "host".to_string()
    } else {
        tag
    }
}

/// Drops `allot_test_HOST_PID_…` databases of this host whose process is gone (a run that was
/// killed before its databases could be dropped), so they do not pile up. Databases of other
/// hosts are left alone: their processes cannot be seen from here.
async fn drop_abandoned_databases(connection: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'allot_test_%'")
            .fetch_all(&mut *connection)
            .await
            .unwrap_or_default();
    let own_prefix = format!("allot_test_{}_", host_tag());
    for name in names {
        let Some(rest) = name.strip_prefix(&own_prefix) else {
            continue;
        };
        let pid = rest
            .split('_')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *connection)
                .await;
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the PostgreSQL database. Drop cannot await, so a short-lived thread with its own
    /// runtime does it; `WITH (FORCE)` ends connections the test's pool still holds.
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        let server = postgres_server_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut connection)
                    .await
                    .ok()?;
                connection.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: could not drop a test database; the next test run drops it");
        }
    }
}

/// Expands to two test modules, `sqlite` and `postgres`, each running `$body(backend)`.
#[macro_export]
macro_rules! test_on_both_backends {
    ($($name:ident => $body:path;)+) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $body($crate::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $body($crate::Backend::Postgres).await;
                }
            )+
        }
    };
}

impl crate::Store {
    /// Runs one SQL statement in a write transaction and commits it (tests that check what
    /// the database itself refuses, such as changing the append-only logs).
    pub async fn execute_for_test(&self, statement: &str) -> crate::StoreResult<u64> {
        let mut write = self.begin_write().await?;
        let affected = crate::database::on_backend!(&mut write, |connection, Db| {
            sqlx::query::<Db>(statement)
                .execute(&mut *connection)
                .await?
                .rows_affected()
        });
        write.commit().await?;
        Ok(affected)
    }

    /// Every row of every table as text, sorted, by table name (PostgreSQL; on SQLite each
    /// table's row count, its tests comparing the file's bytes): what a test compares to show
    /// that something wrote nothing.
    pub async fn table_rows_for_test(
        &self,
    ) -> crate::StoreResult<std::collections::BTreeMap<String, Vec<String>>> {
        let mut read = self.database.begin_read().await?;
        let tables: Vec<String> = crate::database::on_backend!(&mut read, |connection, Db| {
            let statement = match <Db as crate::database::Dialect>::BACKEND {
                crate::Backend::Sqlite => {
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                }
                crate::Backend::Postgres => {
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                }
            };
            sqlx::query_scalar::<Db, String>(statement)
                .fetch_all(&mut *connection)
                .await?
        });
        let mut contents = std::collections::BTreeMap::new();
        for table in tables {
            let mut rows: Vec<String> =
                crate::database::on_backend!(&mut read, |connection, Db| {
                    let statement = match <Db as crate::database::Dialect>::BACKEND {
                        crate::Backend::Sqlite => format!(
                            // Counts only: the bytes of the file say the rest.
                            "SELECT CAST(COUNT(*) AS TEXT) FROM \"{table}\""
                        ),
                        crate::Backend::Postgres => {
                            format!("SELECT row_to_json(t)::text FROM \"{table}\" AS t")
                        }
                    };
                    sqlx::query_scalar::<Db, String>(&statement)
                        .fetch_all(&mut *connection)
                        .await?
                });
            rows.sort();
            contents.insert(table, rows);
        }
        Ok(contents)
    }
}

impl TestDatabase {
    /// Runs a whole SQL dump (`sqlite3 .dump`, `pg_dump --inserts`) into this database, on a
    /// connection of its own (a PostgreSQL dump changes its session's settings).
    pub async fn load_dump(&self, dump: &str) {
        match self.backend {
            Backend::Sqlite => {
                let options: sqlx::sqlite::SqliteConnectOptions =
                    self.url.parse().expect("a SQLite URL");
                let mut connection =
                    sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
                        .await
                        .expect("open the SQLite test database");
                sqlx::raw_sql(dump)
                    .execute(&mut connection)
                    .await
                    .expect("load the SQLite dump");
                connection.close().await.ok();
            }
            Backend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("open the PostgreSQL test database");
                sqlx::raw_sql(dump)
                    .execute(&mut connection)
                    .await
                    .expect("load the PostgreSQL dump");
                connection.close().await.ok();
            }
        }
    }
}
