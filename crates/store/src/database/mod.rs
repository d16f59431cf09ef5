//! The two databases behind one store: typed sqlx pools for SQLite and PostgreSQL, connections
//! and transactions over either, and the macros that write a statement once for both.
//!
//! Store code names a connection source (a pooled connection or a transaction) and writes its
//! body once inside [`on_backend!`]; the body is compiled for each backend with `Db` standing
//! for `sqlx::Sqlite` or `sqlx::Postgres`, so every bind and row is typed for the database it
//! runs on. Statements are built with [`sql!`] (sqlx's `QueryBuilder`), which writes each
//! backend's own placeholders (`?` on SQLite, `$1…` on PostgreSQL). Where the dialects differ,
//! [`Dialect`] gives each its text, or the body matches on [`Backend`] and writes both.

pub(crate) mod bulk;
pub(crate) mod direct;
pub(crate) mod migrate;
pub(crate) mod pieces;
pub(crate) mod time;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::{StoreError, StoreResult};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Arbitrary constant naming Allot's routing lock among PostgreSQL advisory locks.
const ROUTING_LOCK_KEY: i64 = 0x0061_6c6c_6f74;

/// A typed pool of either backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A connection to run statements on, borrowed from a pooled connection or a transaction.
pub(crate) enum Connection<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// Anything statements can run on.
pub(crate) trait Connected {
    fn connection(&mut self) -> Connection<'_>;
}

impl Connected for Connection<'_> {
    fn connection(&mut self) -> Connection<'_> {
        match self {
            Connection::Sqlite(connection) => Connection::Sqlite(connection),
            Connection::Postgres(connection) => Connection::Postgres(connection),
        }
    }
}

/// Runs `$body` on the connection of `$source`, compiled once per backend with `$connection`
/// the typed `&mut` connection and `$Db` the sqlx database type.
macro_rules! on_backend {
    ($source:expr, |$connection:ident, $Db:ident| $body:expr) => {
        match $crate::database::Connected::connection($source) {
            $crate::database::Connection::Sqlite($connection) => {
                #[allow(dead_code, clippy::upper_case_acronyms)]
                type $Db = ::sqlx::Sqlite;
                $body
            }
            $crate::database::Connection::Postgres($connection) => {
                #[allow(dead_code, clippy::upper_case_acronyms)]
                type $Db = ::sqlx::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_backend;

/// Rows a keyset read ([`Database::for_each_chunk_by_key`]) takes at a time.
pub(crate) const KEYSET_CHUNK: i64 = 10_000;

/// Ends a keyset page of `$query`: the rows after `$after` (an `Option<&str>`) by `$key`, a
/// [`KEYSET_CHUNK`] of them in key order.
macro_rules! keyset_page {
    ($query:expr, $key:expr, $after:expr) => {{
        if let Some(after) = $after {
            $query.push(format!(" WHERE {} > ", $key)).push_bind(after);
        }
        $query
            .push(format!(" ORDER BY {} LIMIT ", $key))
            .push_bind($crate::database::KEYSET_CHUNK);
    }};
}
pub(crate) use keyset_page;

/// A statement for `$Db` from text and bound values: `sql!(Db; "… WHERE id = ", bind(id), " AND …")`.
/// Each `bind(…)` becomes the backend's placeholder.
macro_rules! sql {
    ($Db:ty; $($part:tt)+) => {{
        #[allow(unused_mut)]
        let mut builder = ::sqlx::QueryBuilder::<$Db>::new("");
        $crate::database::sql!(@push builder; $($part)+);
        builder
    }};
    (@push $builder:ident;) => {};
    (@push $builder:ident; bind($value:expr) $(, $($rest:tt)*)?) => {
        $builder.push_bind($value);
        $crate::database::sql!(@push $builder; $($($rest)*)?);
    };
    (@push $builder:ident; $text:expr $(, $($rest:tt)*)?) => {
        $builder.push($text);
        $crate::database::sql!(@push $builder; $($($rest)*)?);
    };
}
pub(crate) use sql;

/// Text that differs between the dialects, named by what it does.
pub(crate) trait Dialect {
    const BACKEND: Backend;
    /// `column` sorted by bytes (PostgreSQL would otherwise use the database's locale), so
    /// listings and routing order are the same on both backends.
    fn byte_order(column: &str) -> String;
    /// The function giving the position of a text in another, from 1, or 0 when absent.
    const POSITION_FUNCTION: &'static str;
    /// A search text folded as the database's `lower()` folds the column it is compared with:
    /// SQLite's folds ASCII letters only, PostgreSQL's every letter.
    fn fold_case(text: &str) -> String;
    /// The text of custom attribute `key` (a plain identifier) of a JSON `column`, or NULL.
    fn attribute_text(column: &str, key: &str) -> String;
}

impl Dialect for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
    fn byte_order(column: &str) -> String {
        column.to_string()
    }
    const POSITION_FUNCTION: &'static str = "instr";
    fn fold_case(text: &str) -> String {
        text.to_ascii_lowercase()
    }
    fn attribute_text(column: &str, key: &str) -> String {
        format!("json_extract({column}, '$.{key}')")
    }
}

impl Dialect for Postgres {
    const BACKEND: Backend = Backend::Postgres;
    fn byte_order(column: &str) -> String {
        format!("{column} COLLATE \"C\"")
    }
    const POSITION_FUNCTION: &'static str = "strpos";
    fn fold_case(text: &str) -> String {
        text.to_lowercase()
    }
    fn attribute_text(column: &str, key: &str) -> String {
        format!("({column} ->> '{key}')")
    }
}

/// `column IN (…)` over a list of texts: one bound value each on SQLite (callers keep lists
/// below its parameter limit), one array parameter on PostgreSQL.
pub(crate) trait TextList<'a> {
    fn push_in_list(&mut self, column: &str, values: &[&'a str]) -> &mut Self;
}

impl<'a> TextList<'a> for sqlx::QueryBuilder<'a, Sqlite> {
    fn push_in_list(&mut self, column: &str, values: &[&'a str]) -> &mut Self {
        if values.is_empty() {
            self.push("1 = 0");
            return self;
        }
        self.push(column).push(" IN (");
        let mut separated = self.separated(", ");
        for value in values {
            separated.push_bind(*value);
        }
        self.push(")")
    }
}

impl<'a> TextList<'a> for sqlx::QueryBuilder<'a, Postgres> {
    fn push_in_list(&mut self, column: &str, values: &[&'a str]) -> &mut Self {
        self.push(column)
            .push(" = ANY(")
            .push_bind(values.to_vec())
            .push(")")
    }
}

/// `column IN (…)` over a list of integers, as [`TextList`] for texts.
pub(crate) trait IntegerList {
    fn push_in_integer_list(&mut self, column: &str, values: &[i64]) -> &mut Self;
}

impl IntegerList for sqlx::QueryBuilder<'_, Sqlite> {
    fn push_in_integer_list(&mut self, column: &str, values: &[i64]) -> &mut Self {
        if values.is_empty() {
            self.push("1 = 0");
            return self;
        }
        self.push(column).push(" IN (");
        let mut separated = self.separated(", ");
        for value in values {
            separated.push_bind(*value);
        }
        self.push(")")
    }
}

impl IntegerList for sqlx::QueryBuilder<'_, Postgres> {
    fn push_in_integer_list(&mut self, column: &str, values: &[i64]) -> &mut Self {
        self.push(column)
            .push(" = ANY(")
            .push_bind(values.to_vec())
            .push(")")
    }
}

/// Most texts in one `IN (…)` list on SQLite.
pub(crate) const LIST_CHUNK: usize = 900;

/// A pooled connection of either backend.
pub(crate) enum PooledConnection {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Connected for PooledConnection {
    fn connection(&mut self) -> Connection<'_> {
        match self {
            PooledConnection::Sqlite(connection) => Connection::Sqlite(connection),
            PooledConnection::Postgres(connection) => Connection::Postgres(connection),
        }
    }
}

/// A transaction of either backend; rolled back when dropped without commit.
pub(crate) enum Transaction {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Connected for Transaction {
    fn connection(&mut self) -> Connection<'_> {
        match self {
            Transaction::Sqlite(transaction) => Connection::Sqlite(transaction),
            Transaction::Postgres(transaction) => Connection::Postgres(transaction),
        }
    }
}

impl Transaction {
    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Transaction::Sqlite(transaction) => transaction.commit().await?,
            Transaction::Postgres(transaction) => transaction.commit().await?,
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> StoreResult<()> {
        match self {
            Transaction::Sqlite(transaction) => transaction.rollback().await?,
            Transaction::Postgres(transaction) => transaction.rollback().await?,
        }
        Ok(())
    }
}

/// A read-only transaction that sees one snapshot for all its statements (PostgreSQL's
/// default, read committed, would give each statement its own).
pub(crate) struct ReadTransaction(Transaction);

impl Connected for ReadTransaction {
    fn connection(&mut self) -> Connection<'_> {
        self.0.connection()
    }
}

/// How long [`Database::begin_two_reads`] waits for its second connection.
const SECOND_READ_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// How long write transactions held the routing lock, for the benchmarks and the logs.
#[derive(Debug, Default)]
pub struct LockStatistics {
    transactions: AtomicU64,
    held_nanoseconds: AtomicU64,
    longest_nanoseconds: AtomicU64,
}

/// A reading of [`LockStatistics`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LockHold {
    pub transactions: u64,
    pub total: Duration,
    pub longest: Duration,
}

impl LockHold {
    pub fn mean(&self) -> Duration {
        if self.transactions == 0 {
            Duration::ZERO
        } else {
            self.total / self.transactions as u32
        }
    }
}

impl LockStatistics {
    fn record(&self, held: Duration) {
        let nanoseconds = held.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.held_nanoseconds
            .fetch_add(nanoseconds, Ordering::Relaxed);
        self.longest_nanoseconds
            .fetch_max(nanoseconds, Ordering::Relaxed);
    }

    /// Starts counting afresh (a benchmark's measured part after its set-up).
    pub fn reset(&self) {
        self.transactions.store(0, Ordering::Relaxed);
        self.held_nanoseconds.store(0, Ordering::Relaxed);
        self.longest_nanoseconds.store(0, Ordering::Relaxed);
    }

    pub fn reading(&self) -> LockHold {
        LockHold {
            transactions: self.transactions.load(Ordering::Relaxed),
            total: Duration::from_nanos(self.held_nanoseconds.load(Ordering::Relaxed)),
            longest: Duration::from_nanos(self.longest_nanoseconds.load(Ordering::Relaxed)),
        }
    }
}

/// A write transaction that holds the routing lock until commit or drop: every change of
/// ownership, loads or strategy state runs in one.
pub struct WriteTransaction {
    pub(crate) transaction: Transaction,
    backend: Backend,
    _sqlite_guard: Option<OwnedMutexGuard<()>>,
    locked_at: Instant,
    statistics: Arc<LockStatistics>,
}

impl Connected for WriteTransaction {
    fn connection(&mut self) -> Connection<'_> {
        self.transaction.connection()
    }
}

impl WriteTransaction {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn commit(self) -> StoreResult<()> {
        let WriteTransaction {
            transaction,
            locked_at,
            statistics,
            _sqlite_guard,
            ..
        } = self;
        transaction.commit().await?;
        statistics.record(locked_at.elapsed());
        Ok(())
    }

    /// For a transaction that grows or empties a table as it goes (imports, routing the pool),
    /// a chunk per statement, on PostgreSQL:
    /// - each statement is planned for the values and sizes it meets, instead of keeping a
    ///   plan made while the table was small (a customer lookup planned on an empty table read
    ///   the whole table once it held a million);
    /// - an index probe is costed as the cached page it is (`random_page_cost` 1.1, the usual
    ///   setting for SSDs): at the default of 4, writing the owners of 10,000 customers was
    ///   planned as a scan of every customer, once per chunk.
    ///
    /// Nothing to do on SQLite.
    pub(crate) async fn plan_each_statement_afresh(&mut self) -> StoreResult<()> {
        if let Connection::Postgres(connection) = self.connection() {
            for setting in [
                "SET LOCAL plan_cache_mode = force_custom_plan",
                "SET LOCAL random_page_cost = 1.1",
            ] {
                sqlx::query(setting).execute(&mut *connection).await?;
            }
        }
        Ok(())
    }

    /// Refreshes PostgreSQL's planner statistics of `table` after a large change (a sample;
    /// a few hundred milliseconds for a million rows). SQLite's statements that depend on it
    /// name their index instead.
    pub(crate) async fn refresh_statistics(&mut self, table: &str) -> StoreResult<()> {
        if let Connection::Postgres(connection) = self.connection() {
            sqlx::query(&format!("ANALYZE {table}"))
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> StoreResult<()> {
        self.transaction.rollback().await
    }
}

/// The pool, the in-process writer lock and the lock statistics.
#[derive(Clone)]
pub(crate) struct Database {
    pub(crate) pool: Pool,
    /// SQLite has one writer; serialising writers in-process avoids SQLITE_BUSY on lock upgrades.
    sqlite_writer: Arc<Mutex<()>>,
    pub(crate) lock_statistics: Arc<LockStatistics>,
}

impl Database {
    /// Opens `sqlite://PATH` (created if missing) or `postgres://…`.
    pub(crate) async fn open(url: &str) -> StoreResult<Database> {
        let pool = if url.starts_with("sqlite:") {
            let options: SqliteConnectOptions = url
                .parse::<SqliteConnectOptions>()
                .map_err(|error| StoreError::UnsupportedUrl(format!("{url}: {error}")))?
                .create_if_missing(true)
                // WAL lets readers run beside the single writer; NORMAL sync is durable across
                // application crashes, which is the guarantee an embedded store needs.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Reading pages through a memory map saves a system call per page, which
                // showed in profiles of single-customer routing; a larger page cache keeps a
                // big routing transaction from spilling to the log before its commit.
                .pragma("mmap_size", "268435456")
                .pragma("cache_size", "-131072")
                // Statement journals (each statement of a long transaction keeps one, to undo
                // only itself if it fails) live in memory instead of a temporary file.
                .pragma("temp_store", "memory")
                .statement_cache_capacity(256);
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options: PgConnectOptions = url
                .parse::<PgConnectOptions>()
                .map_err(|error| StoreError::UnsupportedUrl(format!("{url}: {error}")))?
                .statement_cache_capacity(256);
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        Ok(Database {
            pool,
            sqlite_writer: Arc::new(Mutex::new(())),
            lock_statistics: Arc::new(LockStatistics::default()),
        })
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) async fn acquire(&self) -> StoreResult<PooledConnection> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => PooledConnection::Sqlite(pool.acquire().await?),
            Pool::Postgres(pool) => PooledConnection::Postgres(pool.acquire().await?),
        })
    }

    /// Reads rows a chunk at a time in key order from one snapshot, handing each chunk to
    /// `each`: `fetch` reads the page after a key (see [`keyset_page!`]), `key` gives a row's
    /// key. `each` may fail with its own error (one a store error converts into), which stops
    /// the reading; memory holds one chunk whatever the table.
    pub(crate) async fn for_each_chunk_by_key<T, E: From<StoreError>>(
        &self,
        fetch: impl AsyncFnMut(&mut ReadTransaction, Option<&str>) -> StoreResult<Vec<T>>,
        key: impl Fn(&T) -> &str,
        each: impl FnMut(&[T]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut read = self.begin_read().await?;
        Self::for_each_chunk_by_key_in(&mut read, fetch, key, each).await
    }

    /// [`Database::for_each_chunk_by_key`] inside a read the caller holds, so the chunks share
    /// a snapshot with what else it reads.
    pub(crate) async fn for_each_chunk_by_key_in<T, E: From<StoreError>>(
        read: &mut ReadTransaction,
        mut fetch: impl AsyncFnMut(&mut ReadTransaction, Option<&str>) -> StoreResult<Vec<T>>,
        key: impl Fn(&T) -> &str,
        mut each: impl FnMut(&[T]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut after: Option<String> = None;
        loop {
            let chunk = fetch(&mut *read, after.as_deref()).await?;
            each(&chunk)?;
            match chunk.last() {
                Some(last) if chunk.len() as i64 == KEYSET_CHUNK => {
                    after = Some(key(last).to_string())
                }
                _ => return Ok(()),
            }
        }
    }

    pub(crate) async fn begin_read(&self) -> StoreResult<ReadTransaction> {
        Ok(ReadTransaction(match &self.pool {
            Pool::Sqlite(pool) => Transaction::Sqlite(pool.begin().await?),
            Pool::Postgres(pool) => Transaction::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        }))
    }

    /// Begins a read transaction and, on SQLite, a second one whose snapshot is taken right
    /// after the first's, when the pool gives a connection within [`SECOND_READ_WAIT`]; `None`
    /// otherwise (a reader that held one connection while it waited for another could starve
    /// the pool). A large read may then be split over the two, one per core. Both snapshots
    /// are taken one statement apart, not at one point: a write that commits between them is
    /// seen by the second only.
    pub(crate) async fn begin_two_reads(
        &self,
    ) -> StoreResult<(ReadTransaction, Option<ReadTransaction>)> {
        let mut first = self.begin_read().await?;
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok((first, None));
        };
        let Ok(connection) = tokio::time::timeout(SECOND_READ_WAIT, pool.acquire()).await else {
            return Ok((first, None));
        };
        let mut second = ReadTransaction(Transaction::Sqlite(
            sqlx::Transaction::begin(connection?, None).await?,
        ));
        // SQLite takes a transaction's snapshot at its first read.
        for read in [&mut first, &mut second] {
            if let Connection::Sqlite(connection) = read.connection() {
                sql!(Sqlite; "SELECT 1 FROM sqlite_schema LIMIT 1")
                    .build()
                    .fetch_optional(&mut *connection)
                    .await?;
            }
        }
        Ok((first, Some(second)))
    }

    /// Begins a transaction holding the routing lock: the in-process writer lock on SQLite
    /// (with SQLite's own write lock taken at once, so a reader that becomes a writer never
    /// fails with SQLITE_BUSY mid-transaction), a transaction-scoped advisory lock on PostgreSQL
    /// that every `allot serve` on the database shares.
    pub(crate) async fn begin_write(&self) -> StoreResult<WriteTransaction> {
        let (transaction, guard) = match &self.pool {
            Pool::Sqlite(pool) => {
                let guard = self.sqlite_writer.clone().lock_owned().await;
                (
                    Transaction::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
                    Some(guard),
                )
            }
            Pool::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                sql!(Postgres; "SELECT pg_advisory_xact_lock(", bind(ROUTING_LOCK_KEY), ")")
                    .build()
                    .execute(&mut *transaction)
                    .await?;
                (Transaction::Postgres(transaction), None)
            }
        };
        Ok(WriteTransaction {
            transaction,
            backend: self.backend(),
            _sqlite_guard: guard,
            locked_at: Instant::now(),
            statistics: self.lock_statistics.clone(),
        })
    }
}
