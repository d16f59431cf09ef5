//! API tokens: stored as SHA-256 hashes (tokens are long random secrets, so a fast hash is
//! safe; passwords, when they come, get argon2), verified with an in-memory cache.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::StoreResult;
use crate::{format_timestamp, Store};

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

impl Store {
    /// Makes sure an admin token exists. With `configured` (from `ALLOT_ADMIN_TOKEN`), that token is
    /// registered. Otherwise, on first start, a token is generated and returned once, to be printed.
    pub async fn ensure_admin_token(
        &self,
        configured: Option<&str>,
        clock: allot_core::Clock,
    ) -> StoreResult<Option<String>> {
        let mut write = self.begin_write().await?;
        let (token, name, report) = match configured {
            Some(token) => (token.to_string(), "admin (ALLOT_ADMIN_TOKEN)", false),
            None => {
                let existing: i64 = sqlx::query("SELECT COUNT(*) FROM api_tokens")
                    .fetch_one(&mut *write.transaction)
                    .await?
                    .try_get(0)?;
                if existing > 0 {
                    return Ok(None);
                }
                (generate_token(), "admin (generated)", true)
            }
        };
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, name, role, created_at) VALUES ($1, $2, 'admin', $3)
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(hash_token(&token))
        .bind(name)
        .bind(format_timestamp(clock.now()))
        .execute(&mut *write.transaction)
        .await?;
        write.commit().await?;
        Ok(report.then_some(token))
    }

    /// The name of the token's holder, or `None` for an unknown token.
    pub async fn verify_token(&self, token: &str) -> StoreResult<Option<String>> {
        let hash = hash_token(token);
        if let Some(name) = self.token_cache.lock().expect("token cache").get(&hash) {
            return Ok(Some(name.clone()));
        }
        let row = sqlx::query("SELECT name FROM api_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let name: String = row.try_get(0)?;
                self.token_cache
                    .lock()
                    .expect("token cache")
                    .insert(hash, name.clone());
                Ok(Some(name))
            }
            None => Ok(None),
        }
    }
}
