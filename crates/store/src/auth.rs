//! API tokens: stored as SHA-256 hashes (tokens are long random secrets, so a fast hash is
//! safe; passwords, when they come, get argon2), verified with a short-lived in-memory cache,
//! listed by a public id (a prefix of the hash) and revoked by it.

use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::rows::{optional_text, text};
use crate::{format_timestamp, Store};

/// Shortest token accepted from `ALLOT_ADMIN_TOKEN`: a bearer token is a password that is
/// sent on every request, so it must not be guessable.
pub const MINIMUM_TOKEN_LENGTH: usize = 16;

/// How long a verified token is trusted without asking the database again; a revocation made
/// by another process takes effect within this time (at once in the revoking process).
const TOKEN_CACHE_TIME: Duration = Duration::from_secs(10);

/// Length of a token's public id, the start of its hash.
const TOKEN_ID_LENGTH: usize = 12;

fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A new random token: 32 bytes from the operating system, hex-encoded, prefixed for recognisability.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("allot_{hex}")
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `ALLOT_ADMIN_TOKEN`: a new value revokes the previous one.
    Environment,
    /// Generated on the first start without `ALLOT_ADMIN_TOKEN`.
    Generated,
    /// `allot token create`.
    Command,
}

impl TokenSource {
    fn as_str(self) -> &'static str {
        match self {
            TokenSource::Environment => "env",
            TokenSource::Generated => "generated",
            TokenSource::Command => "cli",
        }
    }
}

/// A token as listed: never the secret, only its public id.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    /// The first characters of the token's hash; `allot token revoke ID` takes it.
    pub id: String,
    pub name: String,
    pub role: String,
    /// env, generated or cli.
    pub source: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Verified tokens: holder name and when the database last confirmed it.
pub(crate) type TokenCache = std::collections::HashMap<String, (String, Instant)>;

impl Store {
    /// Makes sure an admin token exists. With `configured` (from `ALLOT_ADMIN_TOKEN`), that token
    /// is registered and any earlier `ALLOT_ADMIN_TOKEN` token is revoked, so changing the
    /// variable rotates the token. Otherwise, on first start, a token is generated and returned
    /// once, to be printed.
    pub async fn ensure_admin_token(
        &self,
        configured: Option<&str>,
        clock: allot_core::Clock,
    ) -> StoreResult<Option<String>> {
        let now = format_timestamp(clock.now());
        let mut write = self.begin_write().await?;
        let (token, source) = match configured {
            Some(token) => {
                check_token_strength(token)?;
                (token.trim().to_string(), TokenSource::Environment)
            }
            None => {
                let active: i64 =
                    sqlx::query("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")
                        .fetch_one(&mut *write.transaction)
                        .await?
                        .try_get(0)?;
                if active > 0 {
                    return Ok(None);
                }
                (generate_token(), TokenSource::Generated)
            }
        };
        let hash = hash_token(&token);
        let revoked: Option<String> =
            sqlx::query("SELECT revoked_at FROM api_tokens WHERE token_hash = $1")
                .bind(&hash)
                .fetch_optional(&mut *write.transaction)
                .await?
                .map(|row| optional_text(&row, "revoked_at"))
                .transpose()?
                .flatten();
        if let Some(revoked_at) = revoked {
            // A revoked token never works again, even when it is configured once more.
            return Err(StoreError::Refused {
                message: format!(
                    "the token in ALLOT_ADMIN_TOKEN was revoked at {revoked_at}; set a new one (`allot token create` makes a strong one)"
                ),
                field: Some("ALLOT_ADMIN_TOKEN".to_string()),
            });
        }
        if source == TokenSource::Environment {
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1
                 WHERE source = 'env' AND revoked_at IS NULL AND token_hash <> $2",
            )
            .bind(&now)
            .bind(&hash)
            .execute(&mut *write.transaction)
            .await?;
        }
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, name, role, created_at, source) VALUES ($1, $2, 'admin', $3, $4)
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(&hash)
        .bind(match source {
            TokenSource::Environment => "admin (ALLOT_ADMIN_TOKEN)",
            _ => "admin (generated)",
        })
        .bind(&now)
        .bind(source.as_str())
        .execute(&mut *write.transaction)
        .await?;
        write.commit().await?;
        self.token_cache.lock().expect("token cache").clear();
        Ok((source == TokenSource::Generated).then_some(token))
    }

    /// Creates an admin token for `name` (`allot token create`) and returns it, to be shown once.
    pub async fn create_token(&self, name: &str, clock: allot_core::Clock) -> StoreResult<String> {
        let name = allot_core::model::parse_text("name", name)?;
        let token = generate_token();
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, name, role, created_at, source) VALUES ($1, $2, 'admin', $3, $4)",
        )
        .bind(hash_token(&token))
        .bind(if name.is_empty() { "admin" } else { name.as_str() })
        .bind(format_timestamp(clock.now()))
        .bind(TokenSource::Command.as_str())
        .execute(&mut *write.transaction)
        .await?;
        write.commit().await?;
        Ok(token)
    }

    /// Every token ever issued, oldest first, revoked ones included.
    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT token_hash, name, role, source, created_at, revoked_at FROM api_tokens ORDER BY created_at, token_hash",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TokenInfo {
                    id: text(row, "token_hash")?[..TOKEN_ID_LENGTH].to_string(),
                    name: text(row, "name")?,
                    role: text(row, "role")?,
                    source: text(row, "source")?,
                    created_at: text(row, "created_at")?,
                    revoked_at: optional_text(row, "revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes the token whose public id is `id`; it stops working at once in this process
    /// and within seconds in others.
    pub async fn revoke_token(&self, id: &str, clock: allot_core::Clock) -> StoreResult<()> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() != TOKEN_ID_LENGTH || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "id",
                format!("a token id is {TOKEN_ID_LENGTH} hex digits, as `allot token list` shows"),
            )));
        }
        let mut write = self.begin_write().await?;
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE substr(token_hash, 1, 12) = $2 AND revoked_at IS NULL",
        )
        .bind(format_timestamp(clock.now()))
        .bind(&id)
        .execute(&mut *write.transaction)
        .await?
        .rows_affected();
        if revoked == 0 {
            return Err(StoreError::NotFound {
                entity: "active token",
                id,
            });
        }
        write.commit().await?;
        self.token_cache.lock().expect("token cache").clear();
        Ok(())
    }

    /// The name of the token's holder, or `None` for an unknown or revoked token.
    pub async fn verify_token(&self, token: &str) -> StoreResult<Option<String>> {
        let hash = hash_token(token);
        if let Some((name, confirmed)) = self.token_cache.lock().expect("token cache").get(&hash) {
            if confirmed.elapsed() < TOKEN_CACHE_TIME {
                return Ok(Some(name.clone()));
            }
        }
        let row =
            sqlx::query("SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?;
        let mut cache = self.token_cache.lock().expect("token cache");
        match row {
            Some(row) => {
                let name: String = row.try_get(0)?;
                cache.insert(hash, (name.clone(), Instant::now()));
                Ok(Some(name))
            }
            None => {
                cache.remove(&hash);
                Ok(None)
            }
        }
    }
}

fn check_token_strength(token: &str) -> StoreResult<()> {
    let token = token.trim();
    if token.chars().count() < MINIMUM_TOKEN_LENGTH || token.chars().any(char::is_control) {
        return Err(StoreError::Invalid(allot_core::FieldError::new(
            "ALLOT_ADMIN_TOKEN",
            format!(
                "must be at least {MINIMUM_TOKEN_LENGTH} characters without control characters; `allot token create` makes a strong one"
            ),
        )));
    }
    Ok(())
}
