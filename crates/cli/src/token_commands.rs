//! `allot token`: API tokens, created (shown once), listed (never the secrets) and revoked.

use anyhow::Result;

use allot_core::{Clock, RepId};
use allot_store::Store;

use crate::table::{Align, Table};
use crate::TokenAction;

pub async fn token(store: &Store, action: TokenAction, clock: Clock) -> Result<()> {
    match action {
        TokenAction::Create { name, rep } => {
            let rep = rep.map(|rep| RepId::parse_field("rep", &rep)).transpose()?;
            let token = store.create_token(&name, rep.as_ref(), clock).await?;
            println!("{token}");
        }
        TokenAction::List { json } => {
            let tokens = store.list_tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(());
            }
            let mut table = Table::new(
                &["id", "name", "rep", "source", "created", "revoked"],
                &[Align::Left; 6],
            );
            for token in &tokens {
                table.row(vec![
                    token.id.clone(),
                    token.name.clone(),
                    token.rep_id.clone().unwrap_or_else(|| "-".to_string()),
                    token.source.clone(),
                    token.created_at.clone(),
                    token.revoked_at.clone().unwrap_or_else(|| "-".to_string()),
                ]);
            }
            table.print();
        }
        TokenAction::Revoke { id } => {
            store.revoke_token(&id, clock).await?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
