//! Test support (feature `testing`): a fresh, empty database per test on SQLite or PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};

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
                }
            }
            Backend::Postgres => {
                let server = postgres_server_url();
                let name = format!(
                    "allot_test_{}_{}_{}",
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
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut connection)
                    .await
                    .expect("create test database");
                connection.close().await.ok();
                TestDatabase {
                    url: format!("{server}/{name}"),
                    backend,
                    _directory: None,
                }
            }
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
