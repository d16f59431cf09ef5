//! Password logins and web sessions (X1): argon2id password hashes on reps, sessions kept by
//! the hash of their cookie value with the CSRF token their forms carry, idle expiry, and the
//! lockout after repeated wrong passwords. Every attempt is logged in `login_attempts`.

use allot_core::access::Principal;
use allot_core::{Clock, RepId};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Duration, Utc};

use crate::auth::{generate_token, hash_token};
use crate::database::{on_backend, sql};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

/// A session unused for this long has ended.
pub const SESSION_IDLE: Duration = Duration::hours(8);
/// Wrong passwords within [`LOCKOUT_WINDOW`] that lock an account.
pub const LOCKOUT_FAILURES: i64 = 5;
/// How far back failures count, and how long the lock lasts after the last of them.
pub const LOCKOUT_WINDOW: Duration = Duration::minutes(15);
/// The shortest password accepted.
pub const MINIMUM_PASSWORD_LENGTH: usize = 10;

/// OWASP's argon2id settings: 19 MiB of memory, two passes, one lane.
fn hasher() -> StoreResult<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|error| StoreError::Corrupt(format!("argon2 parameters: {error}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a fresh random salt.
fn hash_password(password: &str) -> StoreResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|error| StoreError::Corrupt(format!("random source: {error}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|error| StoreError::Corrupt(format!("salt: {error}")))?;
    Ok(hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| StoreError::Corrupt(format!("password hash: {error}")))?
        .to_string())
}

/// Whether `password` is the one `stored` was made from; a stored value that is not a PHC
/// string matches nothing.
fn password_matches(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    hasher().is_ok_and(|argon2| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash no password is checked against for real: compared with when the rep has none.
fn unmatchable_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no password is ever this one").unwrap_or_default())
}

/// A password as given: long enough, no control characters.
fn check_password(password: &str) -> StoreResult<()> {
    if password.chars().count() < MINIMUM_PASSWORD_LENGTH {
        return Err(StoreError::Invalid(allot_core::FieldError::new(
            "password",
            format!("use at least {MINIMUM_PASSWORD_LENGTH} characters"),
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(StoreError::Invalid(allot_core::FieldError::new(
            "password",
            "no control characters (line breaks, tabs)",
        )));
    }
    Ok(())
}

/// A session just opened: the cookie value (shown once) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

/// A live session: who it acts as and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct SessionHolder {
    pub rep_id: RepId,
    /// The rep's name, for the page header.
    pub name: String,
    pub principal: Principal,
    pub csrf_token: String,
}

/// Why a login failed, in words a login page can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown rep, no password set, inactive rep or wrong password: one answer for all, so
    /// the page does not tell which ids exist.
    WrongCredentials,
    /// Too many wrong passwords; tried again after this instant.
    Locked { until: DateTime<Utc> },
}

impl Store {
    /// Sets (or replaces) a rep's password; its open sessions end, since whoever knew the old
    /// one may be using them.
    pub async fn set_password(&self, rep: &RepId, password: &str, clock: Clock) -> StoreResult<()> {
        check_password(password)?;
        let hash = hash_password(password)?;
        let mut write = self.begin_write().await?;
        let changed = on_backend!(&mut write, |connection, Db| {
            let changed = sql!(Db; "UPDATE reps SET password_hash = ", bind(hash.as_str()), " WHERE id = ", bind(rep.as_str()))
                .build()
                .execute(&mut *connection)
                .await?
                .rows_affected();
            sql!(Db; "UPDATE sessions SET ended_at = ", bind(StoredTime(clock.now())), " WHERE rep_id = ",
                bind(rep.as_str()), " AND ended_at IS NULL")
                .build()
                .execute(&mut *connection)
                .await?;
            changed
        });
        if changed == 0 {
            return Err(StoreError::NotFound {
                entity: "rep",
                id: rep.to_string(),
            });
        }
        write.commit().await?;
        Ok(())
    }

    /// Logs a rep in with its password: a new session, or the refusal. `address` (the
    /// client's, when known) is logged with the attempt.
    pub async fn log_in(
        &self,
        rep: &RepId,
        password: &str,
        address: Option<&str>,
        clock: Clock,
    ) -> StoreResult<Result<NewSession, LoginRefusal>> {
        let now = clock.now();
        // A lock ends a window after the failure that set it, which came at most a window
        // after the first of its five.
        let since = now - LOCKOUT_WINDOW - LOCKOUT_WINDOW;
        let mut write = self.begin_write().await?;
        let (stored, failures): (Option<(Option<String>, bool)>, Vec<StoredTime>) = on_backend!(
            &mut write,
            |connection, Db| {
                let stored = sql!(Db; "SELECT password_hash, active FROM reps WHERE id = ", bind(rep.as_str()))
                    .build_query_as()
                    .fetch_optional(&mut *connection)
                    .await?;
                // The failures since the last success, within the window, newest first.
                let failures = sql!(Db; "SELECT at FROM login_attempts WHERE rep_id = ", bind(rep.as_str()),
                    " AND at > ", bind(StoredTime(since)), " AND NOT succeeded AND id > COALESCE((SELECT MAX(id) FROM login_attempts WHERE rep_id = ",
                    bind(rep.as_str()), " AND succeeded), 0) ORDER BY at DESC, id DESC")
                    .build_query_scalar()
                    .fetch_all(&mut *connection)
                    .await?;
                (stored, failures)
            }
        );
        if let Some(until) = locked_until(&failures, now) {
            // Not logged as a failure: tries while locked do not lengthen the lock.
            tracing::warn!(rep = %rep, until = %StoredTime(until).text(), "login refused: account locked");
            return Ok(Err(LoginRefusal::Locked { until }));
        }
        let verified = match &stored {
            Some((Some(hash), true)) => password_matches(password, hash),
            // The same work as a real check, so the answer's time does not tell which ids exist.
            _ => {
                password_matches(password, unmatchable_hash());
                false
            }
        };
        record_attempt(&mut write, rep, now, verified, address).await?;
        if !verified {
            write.commit().await?;
            tracing::warn!(rep = %rep, "login refused: wrong credentials");
            let mut with_this: Vec<StoredTime> = vec![StoredTime(now)];
            with_this.extend(failures.iter().copied());
            if locked_until(&with_this, now).is_some() {
                tracing::warn!(rep = %rep, "account locked for 15 minutes after {LOCKOUT_FAILURES} wrong passwords");
                return Ok(Err(LoginRefusal::Locked {
                    until: now + LOCKOUT_WINDOW,
                }));
            }
            return Ok(Err(LoginRefusal::WrongCredentials));
        }
        let session = NewSession {
            token: generate_token(),
            csrf_token: generate_token(),
        };
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "INSERT INTO sessions (token_hash, rep_id, csrf_token, created_at, last_seen_at) VALUES (",
                bind(hash_token(&session.token)), ", ", bind(rep.as_str()), ", ", bind(session.csrf_token.as_str()), ", ",
                bind(StoredTime(now)), ", ", bind(StoredTime(now)), ")")
                .build()
                .execute(&mut *connection)
                .await?;
        });
        write.commit().await?;
        tracing::info!(rep = %rep, "logged in");
        Ok(Ok(session))
    }

    /// The holder of a session cookie, if the session is open, not idle longer than
    /// [`SESSION_IDLE`] and its rep active; its idle clock restarts.
    pub async fn session(&self, token: &str, clock: Clock) -> StoreResult<Option<SessionHolder>> {
        let now = clock.now();
        let hash = hash_token(token);
        let found: Option<(String, String, String, String)> = {
            let mut connection = self.database.acquire().await?;
            on_backend!(&mut connection, |connection, Db| {
                sql!(Db; "SELECT sessions.rep_id, sessions.csrf_token, reps.name, reps.role FROM sessions JOIN reps ON reps.id = sessions.rep_id WHERE sessions.token_hash = ",
                    bind(hash.as_str()), " AND sessions.ended_at IS NULL AND reps.active AND sessions.last_seen_at > ",
                    bind(StoredTime(now - SESSION_IDLE)))
                .build_query_as()
                .fetch_optional(&mut *connection)
                .await?
            })
        };
        let Some((rep_id, csrf_token, name, role)) = found else {
            return Ok(None);
        };
        let rep_id =
            RepId::parse(&rep_id).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        {
            let mut connection = self.database.acquire().await?;
            on_backend!(&mut connection, |connection, Db| {
                // At most once a minute: a page view need not be a write.
                sql!(Db; "UPDATE sessions SET last_seen_at = ", bind(StoredTime(now)), " WHERE token_hash = ", bind(hash.as_str()),
                    " AND last_seen_at < ", bind(StoredTime(now - Duration::minutes(1))))
                .build()
                .execute(&mut *connection)
                .await?;
            });
        }
        // The lookup read the role and found the rep active: a plain rep's principal is
        // complete; a manager's needs its subtree.
        let role = allot_core::Role::parse_field("role", &role)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let principal = if role == allot_core::Role::Rep {
            Principal::Rep {
                rep: rep_id.clone(),
            }
        } else {
            match self.principal_of_rep(&rep_id).await {
                Ok(principal) => principal,
                Err(StoreError::Forbidden(_) | StoreError::NotFound { .. }) => return Ok(None),
                Err(error) => return Err(error),
            }
        };
        Ok(Some(SessionHolder {
            rep_id,
            name,
            principal,
            csrf_token,
        }))
    }

    /// Ends a session (logout); ending one that has ended changes nothing.
    pub async fn log_out(&self, token: &str, clock: Clock) -> StoreResult<()> {
        let mut connection = self.database.acquire().await?;
        on_backend!(&mut connection, |connection, Db| {
            sql!(Db; "UPDATE sessions SET ended_at = ", bind(StoredTime(clock.now())), " WHERE token_hash = ",
                bind(hash_token(token)), " AND ended_at IS NULL")
            .build()
            .execute(&mut *connection)
            .await?;
        });
        Ok(())
    }
}

/// When the lock set by these failures (newest first, since the last success) ends, if it
/// has not: any [`LOCKOUT_FAILURES`] of them within [`LOCKOUT_WINDOW`] lock the account until a
/// window after the last of those.
fn locked_until(failures: &[StoredTime], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let span = usize::try_from(LOCKOUT_FAILURES).ok()?.checked_sub(1)?;
    failures
        .windows(span + 1)
        .filter(|five| five[0].0 - five[span].0 < LOCKOUT_WINDOW)
        .map(|five| five[0].0 + LOCKOUT_WINDOW)
        .find(|until| *until > now)
}

async fn record_attempt(
    write: &mut crate::WriteTransaction,
    rep: &RepId,
    at: DateTime<Utc>,
    succeeded: bool,
    address: Option<&str>,
) -> StoreResult<()> {
    on_backend!(write, |connection, Db| {
        sql!(Db; "INSERT INTO login_attempts (rep_id, at, succeeded, address) VALUES (", bind(rep.as_str()), ", ",
            bind(StoredTime(at)), ", ", bind(succeeded), ", ", bind(address), ")")
            .build()
            .execute(&mut *connection)
            .await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let stored = hash_password("correct horse battery").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(password_matches("correct horse battery", &stored));
        assert!(!password_matches("correct horse batter", &stored));
        assert!(!password_matches("correct horse battery", "not a hash"));
        assert_ne!(
            stored,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
    }

    #[test]
    fn short_passwords_and_control_characters_are_refused() {
        for (password, accepted) in [
            ("123456789", false),
            ("1234567890", true),
            ("密码密码密码密码密码", true),
            ("good\tpassword", false),
        ] {
            assert_eq!(check_password(password).is_ok(), accepted, "{password:?}");
        }
    }
}
