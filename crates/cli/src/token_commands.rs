//! `allot token` and `allot user`: API tokens, created (shown once), listed (never the
//! secrets) and revoked; web UI passwords set.

use anyhow::{bail, Context, Result};
use clap::Subcommand;

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

/// `allot user …`: web UI logins.
#[derive(Subcommand)]
pub enum UserAction {
    /// Set a rep's password (argon2id): asked twice on a terminal without echo, or read as
    /// one line from standard input with --stdin. The rep's web sessions end.
    Password {
        rep: String,
        #[arg(long)]
        stdin: bool,
    },
}

pub async fn user(store: &Store, action: UserAction, clock: Clock) -> Result<()> {
    match action {
        UserAction::Password { rep, stdin } => {
            let rep = RepId::parse(&rep).map_err(|error| anyhow::anyhow!("rep: {error}"))?;
            let password = if stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                line.trim_end_matches(['\r', '\n']).to_string()
            } else {
                if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    bail!(
                        "no terminal to ask on: give the password on standard input with --stdin"
                    );
                }
                let first = ask_without_echo(&format!("new password for {rep}: "))?;
                let again = ask_without_echo("again: ")?;
                if first != again {
                    bail!("the two passwords differ; nothing was changed");
                }
                first
            };
            store.set_password(&rep, &password, clock).await?;
            println!("password of {rep} set; its web sessions have ended");
        }
    }
    Ok(())
}

/// Reads one line from the terminal with echo off, restoring it whatever happens.
fn ask_without_echo(prompt: &str) -> Result<String> {
    use std::io::Write;
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let descriptor = libc::STDIN_FILENO;
    // SAFETY: termios is plain data, filled by tcgetattr before it is read.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a pointer to a termios we own.
    if unsafe { libc::tcgetattr(descriptor, &mut saved) } != 0 {
        bail!("cannot read the terminal's settings");
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: as above; the settings are restored below before returning.
    unsafe { libc::tcsetattr(descriptor, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(descriptor, libc::TCSANOW, &saved) };
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
