//! API tokens: stored as SHA-256 hashes (tokens are long random secrets, so a fast hash is
//! safe; passwords, when they come, get argon2), verified with a short-lived in-memory cache,
//! listed by a public id (a prefix of the hash) and revoked by it.

use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use allot_core::access::{managed_subtree, Principal};
use allot_core::model::Role;
use allot_core::RepId;

use crate::database::{on_backend, sql};
use crate::error::{StoreError, StoreResult};
use crate::organisation::load_teams_and_reps;
use crate::{Store, StoredTime};

/// Shortest token accepted from `ALLOT_ADMIN_TOKEN`: a bearer token is a password that is
/// sent on every request, so it must not be guessable.
pub const MINIMUM_TOKEN_LENGTH: usize = 16;

/// How long a verified token is trusted without asking the database again; a revocation made
/// by another process takes effect within this time (at once in the revoking process).
const TOKEN_CACHE_TIME: Duration = Duration::from_secs(10);

/// Length of a token's public id, the start of its hash.
const TOKEN_ID_LENGTH: usize = 12;

pub(crate) fn hash_token(token: &str) -> String {
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
    /// The rep the token acts as (with the rep's role); none for an admin token.
    pub rep_id: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Who a verified token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    /// The token's public id.
    pub id: String,
    pub name: String,
    /// The rep it acts as; `None` for an admin token.
    pub rep_id: Option<RepId>,
    /// That rep's role when the token was checked (read with it, so a plain rep's principal
    /// needs no second read).
    pub rep_role: Option<Role>,
}

/// Verified admin tokens and when the database last confirmed them. Rep tokens are checked
/// on every request, so a deactivated rep's tokens stop at once in every process.
pub(crate) type TokenCache = std::collections::HashMap<String, (TokenHolder, Instant)>;

#[derive(sqlx_macros::FromRow)]
struct TokenRow {
    token_hash: String,
    name: String,
    role: String,
    source: String,
    rep_id: Option<String>,
    created_at: StoredTime,
    revoked_at: Option<StoredTime>,
}

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
        let now = StoredTime(clock.now());
        let mut write = self.begin_write().await?;
        let (token, source) = match configured {
            Some(token) => {
                check_token_strength(token)?;
                (token.trim().to_string(), TokenSource::Environment)
            }
            None => {
                let active: i64 = on_backend!(&mut write, |connection, Db| {
                    sql!(Db; "SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")
                        .build_query_scalar()
                        .fetch_one(&mut *connection)
                        .await?
                });
                if active > 0 {
                    return Ok(None);
                }
                (generate_token(), TokenSource::Generated)
            }
        };
        let hash = hash_token(&token);
        let revoked: Option<Option<StoredTime>> = on_backend!(&mut write, |connection, Db| {
            sql!(Db; "SELECT revoked_at FROM api_tokens WHERE token_hash = ", bind(hash.as_str()))
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
        });
        if let Some(revoked_at) = revoked.flatten() {
            // A revoked token never works again, even when it is configured once more.
            return Err(StoreError::Refused {
                message: format!(
                    "the token in ALLOT_ADMIN_TOKEN was revoked at {}; set a new one (`allot token create` makes a strong one)",
                    revoked_at.text()
                ),
                field: Some("ALLOT_ADMIN_TOKEN".to_string()),
            });
        }
        let name = match source {
            TokenSource::Environment => "admin (ALLOT_ADMIN_TOKEN)",
            _ => "admin (generated)",
        };
        on_backend!(&mut write, |connection, Db| {
            if source == TokenSource::Environment {
                sql!(Db; "UPDATE api_tokens SET revoked_at = ", bind(now),
                    " WHERE source = 'env' AND revoked_at IS NULL AND token_hash <> ", bind(hash.as_str()))
                .build()
                .execute(&mut *connection)
                .await?;
            }
            sql!(Db; "INSERT INTO api_tokens (token_hash, name, role, created_at, source) VALUES (",
                bind(hash.as_str()), ", ", bind(name), ", 'admin', ", bind(now), ", ", bind(source.as_str()),
                ") ON CONFLICT (token_hash) DO NOTHING")
            .build()
            .execute(&mut *connection)
            .await?;
        });
        write.commit().await?;
        self.token_cache.lock().expect("token cache").clear();
        Ok((source == TokenSource::Generated).then_some(token))
    }

    /// Creates a token (`allot token create`) and returns it, to be shown once: an admin token,
    /// or with `rep` one that acts as that rep with the rep's role (named after the rep unless
    /// `name` says otherwise).
    pub async fn create_token(
        &self,
        name: &str,
        rep: Option<&RepId>,
        clock: allot_core::Clock,
    ) -> StoreResult<String> {
        let name = allot_core::text::parse_text("name", name)?;
        let token = generate_token();
        let hash = hash_token(&token);
        let mut write = self.begin_write().await?;
        if let Some(rep) = rep {
            let active: Option<bool> = on_backend!(&mut write, |connection, Db| {
                sql!(Db; "SELECT active FROM reps WHERE id = ", bind(rep.as_str()))
                    .build_query_scalar()
                    .fetch_optional(&mut *connection)
                    .await?
            });
            match active {
                None => {
                    return Err(StoreError::NotFound {
                        entity: "rep",
                        id: rep.to_string(),
                    })
                }
                Some(false) => {
                    return Err(StoreError::Refused {
                        message: format!("rep {rep} is inactive; an inactive rep has no tokens"),
                        field: Some("rep".to_string()),
                    })
                }
                Some(true) => {}
            }
        }
        let name = match (name.is_empty(), rep) {
            (false, _) => name,
            (true, Some(rep)) => rep.to_string(),
            (true, None) => "admin".to_string(),
        };
        let role = if rep.is_some() { "rep" } else { "admin" };
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "INSERT INTO api_tokens (token_hash, name, role, rep_id, created_at, source) VALUES (",
                bind(hash.as_str()), ", ", bind(name.as_str()), ", ", bind(role), ", ", bind(rep.map(RepId::as_str)), ", ",
                bind(StoredTime(clock.now())), ", ", bind(TokenSource::Command.as_str()), ")")
            .build()
            .execute(&mut *connection)
            .await?;
        });
        write.commit().await?;
        Ok(token)
    }

    /// Every token ever issued, oldest first, revoked ones included.
    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        let mut connection = self.database.acquire().await?;
        let rows: Vec<TokenRow> = on_backend!(&mut connection, |connection, Db| {
            sql!(Db; "SELECT token_hash, name, role, source, rep_id, created_at, revoked_at FROM api_tokens ORDER BY created_at, token_hash")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|row| TokenInfo {
                id: row.token_hash.chars().take(TOKEN_ID_LENGTH).collect(),
                name: row.name,
                role: row.role,
                source: row.source,
                rep_id: row.rep_id,
                created_at: row.created_at.text(),
                revoked_at: row.revoked_at.map(StoredTime::text),
            })
            .collect())
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
        let revoked = on_backend!(&mut write, |connection, Db| {
            sql!(Db; "UPDATE api_tokens SET revoked_at = ", bind(StoredTime(clock.now())),
                format!(" WHERE substr(token_hash, 1, {TOKEN_ID_LENGTH}) = "), bind(id.as_str()), " AND revoked_at IS NULL")
            .build()
            .execute(&mut *connection)
            .await?
            .rows_affected()
        });
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

    /// The token's holder, or `None` for an unknown or revoked token, or one of an inactive rep.
    pub async fn verify_token(&self, token: &str) -> StoreResult<Option<TokenHolder>> {
        let hash = hash_token(token);
        if let Some((holder, confirmed)) = self.token_cache.lock().expect("token cache").get(&hash)
        {
            if confirmed.elapsed() < TOKEN_CACHE_TIME {
                return Ok(Some(holder.clone()));
            }
        }
        let mut connection = self.database.acquire().await?;
        let row: Option<(String, Option<String>, Option<String>)> = on_backend!(
            &mut connection,
            |connection, Db| {
                sql!(Db; "SELECT api_tokens.name, api_tokens.rep_id, reps.role FROM api_tokens LEFT JOIN reps ON reps.id = api_tokens.rep_id",
                " WHERE api_tokens.token_hash = ", bind(hash.as_str()),
                " AND api_tokens.revoked_at IS NULL AND (api_tokens.rep_id IS NULL OR reps.active)")
                .build_query_as()
                .fetch_optional(&mut *connection)
                .await?
            }
        );
        let holder = row
            .map(|(name, rep_id, role)| -> StoreResult<TokenHolder> {
                Ok(TokenHolder {
                    id: hash.chars().take(TOKEN_ID_LENGTH).collect(),
                    name,
                    rep_id: rep_id
                        .map(|rep| RepId::parse(&rep))
                        .transpose()
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?,
                    rep_role: role
                        .map(|role| Role::parse_field("role", &role))
                        .transpose()
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?,
                })
            })
            .transpose()?;
        let mut cache = self.token_cache.lock().expect("token cache");
        match &holder {
            Some(holder) if holder.rep_id.is_none() => {
                cache.insert(hash, (holder.clone(), Instant::now()));
            }
            _ => {
                cache.remove(&hash);
            }
        }
        Ok(holder)
    }

    /// Who a token's holder acts as: an admin, or its rep as a rep or as the manager of the
    /// subtree of the teams it manages (a rep whose role is admin acts as an admin).
    pub async fn principal(&self, holder: &TokenHolder) -> StoreResult<Principal> {
        let Some(rep) = &holder.rep_id else {
            return Ok(Principal::Admin {
                token_id: holder.id.clone(),
            });
        };
        // The token's check read the role and found the rep active: a plain rep is complete.
        if holder.rep_role == Some(Role::Rep) {
            return Ok(Principal::Rep { rep: rep.clone() });
        }
        self.principal_of_rep(rep).await
    }

    /// The principal a rep acts as, by its role now.
    pub async fn principal_of_rep(&self, rep: &RepId) -> StoreResult<Principal> {
        let state = self.get_rep(rep).await?;
        if !state.rep.active {
            return Err(StoreError::Forbidden(format!("rep {rep} is inactive")));
        }
        Ok(match state.rep.role {
            Role::Rep => Principal::Rep { rep: rep.clone() },
            Role::Admin => Principal::Admin {
                token_id: format!("rep-{rep}"),
            },
            Role::Manager => {
                let mut connection = self.database.acquire().await?;
                let (teams, reps) = load_teams_and_reps(&mut connection).await?;
                let reps: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
                Principal::Manager {
                    rep: rep.clone(),
                    subtree: managed_subtree(rep, &teams, &reps),
                }
            }
        })
    }

    /// Forgets every cached token, so a revocation takes effect at once in this process.
    pub(crate) fn forget_cached_tokens(&self) {
        self.token_cache.lock().expect("token cache").clear();
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
