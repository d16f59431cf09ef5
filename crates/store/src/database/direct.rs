//! SQLite's bulk paths on the connection's own handle: rusqlite statements in the same connection,
//! and so the same transaction, as the sqlx statements around them.
//!
//! sqlx runs each SQLite connection on a worker thread and passes every statement, and every row
//! of a result, through a channel to it; for a write of a hundred thousand rows or a read of a
//! pool that hand-off, and the per-value copies it makes, cost more than SQLite's own work
//! (measured in docs/BENCHMARKS.md). Locking the handle out of the worker for the length of one
//! bulk step runs it on this thread instead, with statements prepared once and reused.

use std::ptr::NonNull;

use sqlx::SqliteConnection;

use super::pieces::StatementPieces;
use crate::error::{StoreError, StoreResult};

/// A locked connection's raw handle, to be used by one thread at a time.
struct Handle(NonNull<rusqlite::ffi::sqlite3>);

// SAFETY: a SQLite handle may be used from any thread, one at a time (SQLite is built
// thread-safe); the lock its connection holds keeps it to one use.
unsafe impl Send for Handle {}

impl Handle {
    /// Runs `work` with the handle as a rusqlite connection.
    fn run<T>(self, work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T>) -> StoreResult<T> {
        // SAFETY: the handle is sqlx's open connection, locked out of its worker thread while
        // the caller's lock lives, so nothing else uses it; `from_handle` does not close it on
        // drop. The rusqlite connection is dropped (finalizing only its own statements) before
        // the lock is released.
        let direct = unsafe { rusqlite::Connection::from_handle(self.0.as_ptr()) }?;
        let result = work(&direct);
        drop(direct);
        result
    }
}

/// Runs synchronous SQLite work; on a multi-threaded runtime the thread is marked as blocking
/// meanwhile, so other tasks move to the other workers.
fn run_blocking<T>(run: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

/// Runs `work` with the connection's handle as a rusqlite connection.
pub(crate) async fn with_direct_sqlite<T: Send>(
    connection: &mut SqliteConnection,
    work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send,
) -> StoreResult<T> {
    let mut locked = connection.lock_handle().await?;
    let handle = Handle(locked.as_raw_handle());
    let result = run_blocking(move || handle.run(work));
    drop(locked);
    result
}

/// Runs two pieces of work at once, each with its own connection's handle, the second on a
/// thread of its own: a large read split in two uses both of a small machine's cores. A panic
/// in either is passed on.
pub(crate) async fn with_two_direct_sqlite<A: Send, B: Send>(
    first: &mut SqliteConnection,
    second: &mut SqliteConnection,
    first_work: impl FnOnce(&rusqlite::Connection) -> StoreResult<A> + Send,
    second_work: impl FnOnce(&rusqlite::Connection) -> StoreResult<B> + Send,
) -> StoreResult<(A, B)> {
    let mut first_locked = first.lock_handle().await?;
    let mut second_locked = second.lock_handle().await?;
    let first_handle = Handle(first_locked.as_raw_handle());
    let second_handle = Handle(second_locked.as_raw_handle());
    let result = run_blocking(move || {
        std::thread::scope(|scope| {
            let second = std::thread::Builder::new()
                .name("allot-second-read".to_string())
                .spawn_scoped(scope, move || second_handle.run(second_work))
                .map_err(|error| StoreError::Database(sqlx::Error::Io(error)))?;
            let first = first_handle.run(first_work);
            let second = second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((first?, second?))
        })
    });
    drop(first_locked);
    drop(second_locked);
    result
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, message) = &error {
            if failure.code == rusqlite::ErrorCode::ConstraintViolation {
                let message = message.clone().unwrap_or_else(|| failure.to_string());
                let foreign_key =
                    failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY;
                return StoreError::Conflict {
                    message: if foreign_key {
                        format!("a referenced record does not exist: {message}")
                    } else {
                        message
                    },
                    field: None,
                };
            }
        }
        StoreError::Sqlite(error.to_string())
    }
}

/// A statement prepared on the connection's handle whose text values are bound without a copy.
///
/// rusqlite binds every text as `SQLITE_TRANSIENT`, so SQLite copies it into memory it
/// allocates; for an import that was a fifth of the write. Here a text borrowed for `'v`, which
/// outlives the statement, is bound as `SQLITE_STATIC`: SQLite reads it where it is.
pub(crate) struct DirectStatement<'c, 'v> {
    statement: NonNull<rusqlite::ffi::sqlite3_stmt>,
    database: *mut rusqlite::ffi::sqlite3,
    _connection: std::marker::PhantomData<&'c rusqlite::Connection>,
    _values: std::marker::PhantomData<&'v str>,
}

impl<'c, 'v> DirectStatement<'c, 'v> {
    pub(crate) fn prepare(
        connection: &'c rusqlite::Connection,
        sql: &str,
    ) -> StoreResult<DirectStatement<'c, 'v>> {
        use rusqlite::ffi;
        // SAFETY: the handle is the open connection borrowed for 'c; the statement made from it
        // is finalized on drop, within 'c.
        let database = unsafe { connection.handle() };
        let length = std::os::raw::c_int::try_from(sql.len())
            .map_err(|_| StoreError::Sqlite("statement too long".to_string()))?;
        let mut statement = std::ptr::null_mut();
        // SAFETY: the text pointer and length describe `sql`; SQLite copies what it needs.
        let code = unsafe {
            ffi::sqlite3_prepare_v3(
                database,
                sql.as_ptr().cast(),
                length,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut statement,
                std::ptr::null_mut(),
            )
        };
        check(database, code)?;
        let statement = NonNull::new(statement)
            .ok_or_else(|| StoreError::Sqlite(format!("no statement in: {sql}")))?;
        Ok(DirectStatement {
            statement,
            database,
            _connection: std::marker::PhantomData,
            _values: std::marker::PhantomData,
        })
    }

    /// Binds a text that stays where it is until the statement is done with it.
    pub(crate) fn bind_text(&mut self, index: usize, text: &'v str) -> StoreResult<()> {
        self.bind_text_with(index, text, rusqlite::ffi::SQLITE_STATIC())
    }

    /// Binds a text made for this binding, which SQLite copies.
    pub(crate) fn bind_text_copied(&mut self, index: usize, text: &str) -> StoreResult<()> {
        self.bind_text_with(index, text, rusqlite::ffi::SQLITE_TRANSIENT())
    }

    fn bind_text_with(
        &mut self,
        index: usize,
        text: &str,
        destructor: rusqlite::ffi::sqlite3_destructor_type,
    ) -> StoreResult<()> {
        let length = u64::try_from(text.len()).unwrap_or(u64::MAX);
        // SAFETY: the pointer and length describe `text`; with SQLITE_STATIC the caller's
        // lifetime 'v keeps it alive past every step of this statement, with SQLITE_TRANSIENT
        // SQLite copies it before returning.
        let code = unsafe {
            rusqlite::ffi::sqlite3_bind_text64(
                self.statement.as_ptr(),
                parameter(index)?,
                text.as_ptr().cast(),
                length,
                destructor,
                rusqlite::ffi::SQLITE_UTF8 as u8,
            )
        };
        check(self.database, code)
    }

    pub(crate) fn bind_integer(&mut self, index: usize, value: i64) -> StoreResult<()> {
        // SAFETY: a live statement and a plain value.
        let code = unsafe {
            rusqlite::ffi::sqlite3_bind_int64(self.statement.as_ptr(), parameter(index)?, value)
        };
        check(self.database, code)
    }

    pub(crate) fn bind_real(&mut self, index: usize, value: f64) -> StoreResult<()> {
        // SAFETY: a live statement and a plain value.
        let code = unsafe {
            rusqlite::ffi::sqlite3_bind_double(self.statement.as_ptr(), parameter(index)?, value)
        };
        check(self.database, code)
    }

    pub(crate) fn bind_null(&mut self, index: usize) -> StoreResult<()> {
        // SAFETY: a live statement.
        let code =
            unsafe { rusqlite::ffi::sqlite3_bind_null(self.statement.as_ptr(), parameter(index)?) };
        check(self.database, code)
    }

    /// Runs the statement to its end (rows it returns are not read) and readies it to run
    /// again; the rows it changed.
    pub(crate) fn execute(&mut self) -> StoreResult<u64> {
        use rusqlite::ffi;
        let result = loop {
            // SAFETY: a live statement on this thread's connection.
            match unsafe { ffi::sqlite3_step(self.statement.as_ptr()) } {
                ffi::SQLITE_ROW => continue,
                ffi::SQLITE_DONE => {
                    // SAFETY: the connection is open.
                    let changed = unsafe { ffi::sqlite3_changes64(self.database) };
                    break Ok(u64::try_from(changed).unwrap_or(0));
                }
                code => break check(self.database, code).map(|()| 0),
            }
        };
        // SAFETY: a live statement; resetting keeps the bindings for the next run.
        unsafe { ffi::sqlite3_reset(self.statement.as_ptr()) };
        result
    }
}

impl Drop for DirectStatement<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared by us and is finalized once, here.
        unsafe { rusqlite::ffi::sqlite3_finalize(self.statement.as_ptr()) };
    }
}

fn parameter(index: usize) -> StoreResult<std::os::raw::c_int> {
    std::os::raw::c_int::try_from(index)
        .map_err(|_| StoreError::Sqlite(format!("parameter {index} out of range")))
}

/// `Ok` for SQLite's success, else the connection's error as the store reports it.
fn check(database: *mut rusqlite::ffi::sqlite3, code: std::os::raw::c_int) -> StoreResult<()> {
    if code == rusqlite::ffi::SQLITE_OK {
        return Ok(());
    }
    // SAFETY: the connection is open; the message is copied before anything else runs on it.
    let (extended, message) = unsafe {
        let message = rusqlite::ffi::sqlite3_errmsg(database);
        let message = if message.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr(message)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        (rusqlite::ffi::sqlite3_extended_errcode(database), message)
    };
    Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(extended), message).into())
}

/// Every row of `statement`: on SQLite read on the connection's own handle and made by
/// `from_sqlite`, on PostgreSQL fetched as `Fetched` and made by `from_postgres`. For the reads
/// of a million rows that the daily jobs and reports make, where sqlx's SQLite worker hands each
/// row over on its own (a context switch per row).
pub(crate) async fn read_all_rows<T, Fetched>(
    source: &mut impl super::Connected,
    statement: impl Into<StatementPieces>,
    from_sqlite: impl Fn(&rusqlite::Row<'_>) -> StoreResult<T> + Send,
    from_postgres: impl Fn(Fetched) -> StoreResult<T>,
) -> StoreResult<Vec<T>>
where
    T: Send,
    Fetched: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let statement = statement.into();
    match source.connection() {
        super::Connection::Sqlite(connection) => {
            let (statement, values) = statement.for_sqlite();
            with_direct_sqlite(connection, move |direct| {
                let mut prepared = direct.prepare(&statement)?;
                let mut rows = prepared.query(rusqlite::params_from_iter(values.iter()))?;
                let mut read = Vec::new();
                while let Some(row) = rows.next()? {
                    read.push(from_sqlite(row)?);
                }
                Ok(read)
            })
            .await
        }
        super::Connection::Postgres(connection) => statement
            .for_postgres()
            .build_query_as::<Fetched>()
            .fetch_all(&mut *connection)
            .await?
            .into_iter()
            .map(from_postgres)
            .collect(),
    }
}

/// The stored time (or NULL) in column `index` of a row read on the handle.
pub(crate) fn stored_time_column(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
    row.get_ref(index)?
        .as_str_or_null()
        .map_err(|error| StoreError::Corrupt(format!("a stored time: {error}")))?
        .map(super::time::parse_stored_time)
        .transpose()
        .map_err(StoreError::Corrupt)
}
