//! Value policy versions: stored as written, parsed on use; the built-in default until one is set.

use allot_core::value::ValuePolicy;
use allot_core::Clock;
use serde::Serialize;

use super::corrupt;
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

/// A stored value policy version.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyVersion {
    pub version: i64,
    pub source: String,
    pub actor: String,
    /// RFC 3339 in UTC.
    pub created_at: String,
}

#[derive(sqlx_macros::FromRow)]
struct PolicyRow {
    version: i64,
    source: String,
    actor: String,
    created_at: StoredTime,
}

async fn newest_policy(source: &mut impl Connected) -> StoreResult<Option<PolicyRow>> {
    Ok(on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT version, source, actor, created_at FROM value_policies ORDER BY version DESC LIMIT 1")
            .build_query_as()
            .fetch_optional(&mut *connection)
            .await?
    }))
}

impl Store {
    /// Validates a value policy (TOML) and stores it as a new version.
    pub async fn set_value_policy(
        &self,
        source: &str,
        actor: &str,
        clock: Clock,
    ) -> StoreResult<i64> {
        ValuePolicy::parse(source).map_err(StoreError::Policy)?;
        let mut write = self.begin_write().await?;
        let version =
            crate::insert_document_version(&mut write, "value_policies", source, actor, clock)
                .await?;
        write.commit().await?;
        Ok(version)
    }

    /// The newest value policy, if one was set (grading uses the built-in default otherwise).
    pub async fn current_value_policy(&self) -> StoreResult<Option<PolicyVersion>> {
        let mut connection = self.database.acquire().await?;
        Ok(newest_policy(&mut connection)
            .await?
            .map(|row| PolicyVersion {
                version: row.version,
                source: row.source,
                actor: row.actor,
                created_at: row.created_at.text(),
            }))
    }

    /// The tiers and stages a customer's columns may take now.
    pub async fn customer_vocabulary(&self) -> StoreResult<allot_core::Vocabulary> {
        let mut connection = self.database.acquire().await?;
        Ok(self.policy_in(&mut connection).await?.1.vocabulary())
    }

    /// The policy in force, read through `source` (a transaction sees its own snapshot).
    /// Versions never change, so the parsed policy is kept by version: each call reads only the
    /// newest version number unless it is new (parsing the TOML on every claim, under the
    /// routing lock, was a share of each claim's hold).
    pub(crate) async fn policy_in(
        &self,
        source: &mut impl Connected,
    ) -> StoreResult<(Option<i64>, ValuePolicy)> {
        let newest: Option<i64> = on_backend!(&mut *source, |connection, Db| {
            sql!(Db; "SELECT MAX(version) FROM value_policies")
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        });
        let Some(version) = newest else {
            return Ok((None, ValuePolicy::default()));
        };
        if let Some((cached, policy)) = self
            .policy_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            if *cached == version {
                return Ok((Some(version), policy.clone()));
            }
        }
        match newest_policy(source).await? {
            None => Ok((None, ValuePolicy::default())),
            Some(row) => {
                let policy = ValuePolicy::parse(&row.source).map_err(|errors| {
                    corrupt(format!(
                        "stored value policy version {} no longer parses: {errors:?}",
                        row.version
                    ))
                })?;
                *self
                    .policy_cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((row.version, policy.clone()));
                Ok((Some(row.version), policy))
            }
        }
    }
}
