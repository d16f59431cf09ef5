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

use crate::error::{StoreError, StoreResult};

/// Runs `work` with the connection's handle as a rusqlite connection. The work is synchronous
/// SQLite calls; on a multi-threaded runtime the thread is marked as blocking meanwhile, so other
/// tasks move to the other workers.
pub(crate) async fn with_direct_sqlite<T: Send>(
    connection: &mut SqliteConnection,
    work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send,
) -> StoreResult<T> {
    let mut locked = connection.lock_handle().await?;
    struct Handle(NonNull<rusqlite::ffi::sqlite3>);
    // SAFETY: a SQLite handle may be used from any thread, one at a time (SQLite is built
    // thread-safe); the lock keeps it to this one use.
    unsafe impl Send for Handle {}
    let handle = Handle(locked.as_raw_handle());
    let run = move || {
        let handle = handle;
        // SAFETY: the handle is sqlx's open connection, locked out of its worker thread while
        // `locked` lives, so nothing else uses it; `from_handle` does not close it on drop.
        // The rusqlite connection is dropped (finalizing only its own statements) before the
        // lock is released.
        let direct = unsafe { rusqlite::Connection::from_handle(handle.0.as_ptr()) }?;
        let result = work(&direct);
        drop(direct);
        result
    };
    let result = match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    };
    drop(locked);
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
