//! `allot demo` and `allot serve`: the demo organisation built once per database, and the server
//! with its scheduled jobs.

use anyhow::{bail, Context, Result};

use allot_core::activity::TicketFields;
use allot_core::demo::{demo_organisation, DemoOrganisation};
use allot_core::input::{RepFields, TeamFields};
use allot_core::{Clock, CustomerFields};
use allot_server::{AppState, ClockSource};
use allot_store::customers::{CustomerWrite, OwnerChangeSource};
use allot_store::imports::{BadRows, ImportRow, ImportSummary, Progress};
use allot_store::Store;

use crate::{progress_bar, routing_commands, value_commands};

/// The actor of everything the demo writes, and how a database holding it is recognised.
const DEMO_ACTOR: &str = "demo";

/// Builds the demo organisation, routes it, adds a year of activity and grades it; on a
/// database that already holds it, changes nothing. A database holding anything else is
/// refused: the demo would mix its customers with real ones.
pub async fn build_demo(store: &Store, seed: u64, customers: usize, clock: Clock) -> Result<()> {
    let versions = store.rules_history().await?;
    if let Some(first) = versions
        .last()
        .filter(|version| version.actor == DEMO_ACTOR)
    {
        println!(
            "this database already holds the demo organisation (built {}); it is used as it is — delete the database file (or pass another --db) to build it afresh",
            first.created_at
        );
        return print_demo_logins(store).await;
    }
    let customers_stored = store
        .list_customers(&allot_store::customers::CustomerFilter {
            limit: 1,
            ..Default::default()
        })
        .await?
        .total;
    let empty = versions.is_empty()
        && store.list_teams().await?.is_empty()
        && store.list_reps().await?.is_empty()
        && customers_stored == 0;
    if !empty {
        bail!("this database already holds data that is not the demo's; give the demo a database of its own (--db sqlite://demo.db)");
    }
    let organisation = demo_organisation(seed, customers, clock);
    let bar = progress_bar(organisation.customers.len() as u64, "demo customers");
    let tick = |done: u64| bar.set_position(done);
    let rules = organisation.rules_toml.clone();
    let [teams, reps, customers] =
        import_organisation(store, organisation, DEMO_ACTOR, clock, &tick).await?;
    bar.finish_and_clear();
    let version = store.set_rules(&rules, DEMO_ACTOR, clock).await?;
    println!(
        "demo organisation (seed {seed}): {} teams, {} reps, {} customers; rules version {version}",
        teams.inserted + teams.updated,
        reps.inserted + reps.updated,
        customers.inserted + customers.updated
    );
    store
        .set_value_policy(allot_core::demo::DEMO_POLICY, DEMO_ACTOR, clock)
        .await?;
    routing_commands::route(store, clock, false).await?;
    println!();
    routing_commands::print_workload(&store.workload_report(clock, None).await?);
    add_demo_activity(store, seed, clock).await?;
    let summary = store.score_customers(clock, DEMO_ACTOR, true).await?;
    value_commands::print_score_summary(&summary);
    for (rep, _, password) in demo_logins(store).await? {
        store.set_password(&rep, password, clock).await?;
    }
    print_demo_logins(store).await
}

/// The demo's web logins: its first admin, first manager and first rep (by id), each with a
/// password of its role's.
async fn demo_logins(
    store: &Store,
) -> Result<Vec<(allot_core::RepId, &'static str, &'static str)>> {
    let reps = store.list_reps().await?;
    let mut logins = Vec::new();
    for (role, word, password) in [
        (allot_core::Role::Admin, "admin", "allot-demo-admin"),
        (allot_core::Role::Manager, "manager", "allot-demo-manager"),
        (allot_core::Role::Rep, "rep", "allot-demo-rep"),
    ] {
        if let Some(state) = reps
            .iter()
            .find(|state| state.rep.role == role && state.rep.active)
        {
            logins.push((state.rep.id.clone(), word, password));
        }
    }
    Ok(logins)
}

async fn print_demo_logins(store: &Store) -> Result<()> {
    println!("\nweb UI logins (the demo's passwords; change them with `allot user password REP`):");
    for (rep, role, password) in demo_logins(store).await? {
        println!("  {role:<8} {rep}  {password}");
    }
    Ok(())
}

/// A year of purchases, interactions and tickets up to the clock, for the routed customers.
async fn add_demo_activity(store: &Store, seed: u64, clock: Clock) -> Result<()> {
    let quiet = |_: u64| {};
    let routed = store.all_customers().await?;
    let activity = allot_core::demo::demo_activity(seed, &routed, clock);
    let transactions = store
        .import_transactions(
            activity
                .transactions
                .into_iter()
                .map(|row| (0, row))
                .collect(),
            BadRows::new(true),
            clock,
            &quiet,
        )
        .await?;
    let interactions = store
        .import_interactions(
            activity
                .interactions
                .into_iter()
                .map(|row| (0, row))
                .collect(),
            BadRows::new(true),
            clock,
            &quiet,
        )
        .await?;
    let tickets = store
        .import_tickets(
            activity
                .tickets
                .into_iter()
                .map(|ticket| {
                    ImportRow::whole(
                        0,
                        TicketFields::from_ticket(&ticket),
                        &TicketFields::COLUMNS,
                    )
                })
                .collect(),
            BadRows::new(true),
            clock,
            &quiet,
        )
        .await?;
    if [&transactions, &interactions, &tickets]
        .iter()
        .any(|summary| !summary.problems.is_empty())
    {
        bail!("the demo activity did not import cleanly");
    }
    println!(
        "\ndemo activity: {} transactions, {} interactions, {} tickets",
        transactions.inserted, interactions.inserted, tickets.inserted
    );
    Ok(())
}

/// Imports a generated organisation (the demo's, a benchmark's) in the CSV import's three
/// steps, failing on any problem. Customer owners are left out, so importing over an earlier
/// copy keeps who owns what.
pub(crate) async fn import_organisation(
    store: &Store,
    organisation: DemoOrganisation,
    actor: &str,
    clock: Clock,
    progress: Progress<'_>,
) -> Result<[ImportSummary; 3]> {
    let quiet = |_: u64| {};
    let DemoOrganisation {
        teams,
        reps,
        customers,
        ..
    } = organisation;
    let teams = store
        .import_teams(
            teams
                .into_iter()
                .map(|team| ImportRow::whole(0, team, &TeamFields::COLUMNS))
                .collect(),
            BadRows::new(true),
            &quiet,
        )
        .await?;
    let reps = store
        .import_reps(
            reps.into_iter()
                .map(|rep| ImportRow::whole(0, rep, &RepFields::COLUMNS))
                .collect(),
            BadRows::new(true),
            &quiet,
        )
        .await?;
    let customers = store
        .import_customers(
            customers.into_iter().enumerate().map(|(index, customer)| {
                let mut fields = CustomerFields::from_customer(&customer);
                fields.remove("owner_id");
                let given = fields.given_columns();
                Ok(ImportRow {
                    line: index + 2,
                    record: fields,
                    given,
                })
            }),
            BadRows::new(true),
            CustomerWrite {
                actor,
                source: OwnerChangeSource::Import,
                clock,
                create_only: false,
            },
            progress,
        )
        .await?;
    for summary in [&teams, &reps, &customers] {
        if !summary.problems.is_empty() {
            bail!(
                "the generated organisation did not import cleanly: {:?}",
                summary.problems
            );
        }
    }
    Ok([teams, reps, customers])
}

/// How `allot serve` and the demo listen.
pub struct ServeOptions {
    pub addr: String,
    /// Seconds between runs of the scheduled jobs; 0 leaves them to cron.
    pub tick_every: u64,
    pub rate_limit: allot_server::operations::RateLimit,
}

/// Serves the API until stopped, with the scheduled jobs every `tick_every` seconds.
pub async fn serve(store: Store, clock: ClockSource, options: &ServeOptions) -> Result<()> {
    let ServeOptions {
        addr,
        tick_every,
        rate_limit,
    } = options;
    let (addr, tick_every) = (addr.as_str(), *tick_every);
    let configured = std::env::var("ALLOT_ADMIN_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty());
    if let Some(token) = store
        .ensure_admin_token(configured.as_deref(), clock.now())
        .await?
    {
        println!("admin API token (shown once, stored hashed): {token}");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    println!(
        "serving http://{} (API under /api/v1, OpenAPI at /api/openapi.json)",
        listener.local_addr()?
    );
    let state = AppState::new(store, clock).with_rate_limit(*rate_limit);
    // Notifications for `[notify] webhook_url` leave the outbox within seconds.
    allot_server::spawn_webhook_sender(
        state.store.clone(),
        state.clock,
        std::time::Duration::from_secs(5),
    );
    // Servers on one database share each token's rate limit, learning each other's calls.
    if rate_limit.per_second > 0 {
        allot_server::operations::spawn_rate_exchange(state.clone());
    }
    if tick_every > 0 {
        allot_server::spawn_scheduler(state.clone(), std::time::Duration::from_secs(tick_every));
        println!("scheduled jobs run every {tick_every} s (--tick-every 0 to leave them to cron)");
    }
    allot_server::serve(listener, state).await?;
    Ok(())
}
