//! The `allot` binary: a thin command-line shell over the core, the store and the server.

mod bench;
mod csv_files;
mod value_commands;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use allot_core::activity::TicketFields;
use allot_core::demo::{demo_organisation, DemoOrganisation};
use allot_core::input::{CustomerFields, RepFields, TeamFields};
use allot_core::CustomerId;
use allot_server::{AppState, ClockSource};
use allot_store::customers::OwnerChangeSource;
use allot_store::organisation::{BadRows, ImportRow, ImportSummary, RowProblem};
use allot_store::Store;

#[derive(Parser)]
#[command(
    name = "allot",
    version,
    about = "Fair, explainable customer allocation (客户分配)"
)]
struct Cli {
    /// Database URL: sqlite://PATH (embedded, the default) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "ALLOT_DB",
        default_value = "sqlite://allot.db"
    )]
    db: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API, and run the scheduled jobs.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Seconds between runs of the scheduled jobs (daily and monthly ones run once per
        /// day or month however often this is); 0 leaves them to `allot tick` from cron.
        #[arg(long, default_value_t = 600)]
        tick_every: u64,
    },
    /// Build a deterministic demo organisation, route it, print the fairness report and serve it.
    Demo {
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 5000)]
        customers: usize,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Build and route, then exit instead of serving.
        #[arg(long)]
        no_serve: bool,
        /// Seconds between runs of the scheduled jobs while serving; 0 turns them off.
        #[arg(long, default_value_t = 600)]
        tick_every: u64,
    },
    /// Import a CSV file (UTF-8, header row); upsert by id.
    Import {
        kind: ImportKind,
        file: PathBuf,
        /// Write nothing if any row is bad.
        #[arg(long)]
        strict: bool,
    },
    /// Export as CSV in the import format (owners included), to stdout or --out.
    Export {
        kind: DataKind,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Set or show the allocation rules.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Route every customer in the pool.
    Route {
        /// One decision per line as JSON (customer_id, owner_id, rule, strategy, reason, trace).
        #[arg(long)]
        json: bool,
    },
    /// Show why a customer went where it went.
    Explain {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Reports.
    Report {
        #[command(subcommand)]
        report: ReportKind,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Set or show the value policy (scoring weights, ABC, tiers, health).
    Policy {
        #[command(subcommand)]
        action: value_commands::PolicyAction,
    },
    /// Grade every customer now: RFM, CLV, score, ABC, tier, health; log tier changes, raise alerts.
    Score {
        #[arg(long)]
        json: bool,
        /// Grade even as of a time before the last grading (replaces newer grades).
        #[arg(long)]
        force: bool,
    },
    /// Run the scheduled jobs due as of the clock: overrides expiry and health refresh daily,
    /// the re-grade monthly. `allot serve` runs them itself; this is for cron and simulation.
    Tick {
        /// Run as of this RFC 3339 time instead of now (or ALLOT_NOW).
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
        /// Tick into a month before the last re-grade, forgetting the later runs.
        #[arg(long)]
        force: bool,
    },
    /// Customer lifetime value models (BG/NBD, Gamma-Gamma) on a transactions file.
    Clv {
        #[command(subcommand)]
        action: value_commands::ClvAction,
    },
    /// A customer's value: RFM, CLV, score, tier and tier history.
    Value {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Manual tiers (with a reason and an expiry date) and the tier log.
    Tier {
        #[command(subcommand)]
        action: value_commands::TierAction,
    },
    /// Health alerts for owners (open ones unless --all), newest first.
    Alerts {
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        all: bool,
        /// A JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Measure routing throughput (see docs/BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        target: bench::BenchTarget,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DataKind {
    Teams,
    Reps,
    Customers,
}

/// What `allot import` reads: the exportable kinds plus activity.
#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    Teams,
    Reps,
    Customers,
    Transactions,
    Interactions,
    Tickets,
}

impl ImportKind {
    fn plural(self) -> &'static str {
        match self {
            ImportKind::Teams => "teams",
            ImportKind::Reps => "reps",
            ImportKind::Customers => "customers",
            ImportKind::Transactions => "transactions",
            ImportKind::Interactions => "interactions",
            ImportKind::Tickets => "tickets",
        }
    }
}

#[derive(Subcommand)]
enum RulesAction {
    /// Validate a rules file and store it as a new version.
    Set { file: PathBuf },
    /// Print the current rules.
    Show,
}

#[derive(Subcommand)]
enum ReportKind {
    /// Workload per rep and fairness (Gini, Jain) per team and overall.
    Workload {
        #[arg(long)]
        json: bool,
    },
    /// Tier sizes and value share, ABC table, RFM segment counts (after `allot score`).
    Value {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a new admin API token and print it once (only its hash is stored).
    Create {
        /// Who or what holds it, shown as the actor of its changes ("api:NAME").
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// List every token ever issued (ids, holders, revocations; never the secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by the id `allot token list` shows.
    Revoke { id: String },
}

fn main() -> std::process::ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`allot alerts | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists; restores the default action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ALLOT_LOG").unwrap_or_else(|_| {
                // sqlx warns of every statement over a second; loading all activity for
                // grading is one, and expected, so only its errors reach the user.
                tracing_subscriber::EnvFilter::new(
                    "warn,sqlx::query=error,allot=info,allot_server=info",
                )
            }),
        )
        .with_writer(io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The version a document (rules, value policy) was stored as, or each of its problems printed
/// as `FILE: rule '…', line L, column C: …` and an error saying nothing was stored.
fn stored_or_problems(
    file: &std::path::Path,
    result: Result<i64, allot_store::StoreError>,
) -> Result<i64> {
    match result {
        Ok(version) => Ok(version),
        Err(
            allot_store::StoreError::Rules(problems) | allot_store::StoreError::Policy(problems),
        ) => {
            for problem in &problems {
                eprintln!("{}: {problem}", file.display());
            }
            bail!(
                "{} problem(s) in {}; nothing was stored",
                problems.len(),
                file.display()
            )
        }
        Err(other) => Err(other.into()),
    }
}

async fn connect(url: &str) -> Result<Store> {
    Store::connect(url)
        .await
        .with_context(|| format!("opening the database {url}"))
}

fn progress_bar(length: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .expect("progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

async fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let clock_source = ClockSource::from_env().context("reading ALLOT_NOW / ALLOT_UTC_OFFSET")?;
    let clock = clock_source.now();
    let success = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Serve { addr, tick_every } => {
            let store = connect(&cli.db).await?;
            serve(store, clock_source, &addr, tick_every).await?;
            Ok(success)
        }
        Command::Demo {
            seed,
            customers,
            addr,
            no_serve,
            tick_every,
        } => {
            let store = connect(&cli.db).await?;
            build_demo(&store, seed, customers, clock).await?;
            if !no_serve {
                serve(store, clock_source, &addr, tick_every).await?;
            }
            Ok(success)
        }
        Command::Import { kind, file, strict } => {
            let store = connect(&cli.db).await?;
            let reader = BufReader::new(
                File::open(&file).with_context(|| format!("opening {}", file.display()))?,
            );
            let summary = import(&store, kind, reader, strict, clock).await?;
            print_import_summary(kind, &file, &summary);
            Ok(if summary.problems.is_empty() {
                success
            } else {
                std::process::ExitCode::from(2)
            })
        }
        Command::Export { kind, out } => {
            let store = connect(&cli.db).await?;
            let writer: Box<dyn Write> = match &out {
                Some(path) => Box::new(BufWriter::new(
                    File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(BufWriter::new(io::stdout().lock())),
            };
            match kind {
                DataKind::Teams => csv_files::write_teams(writer, &store.list_teams().await?)?,
                DataKind::Reps => {
                    let reps: Vec<_> = store
                        .list_reps()
                        .await?
                        .into_iter()
                        .map(|state| state.rep)
                        .collect();
                    csv_files::write_reps(writer, &reps)?
                }
                DataKind::Customers => {
                    csv_files::write_customers(writer, &store.all_customers().await?)?
                }
            }
            Ok(success)
        }
        Command::Rules { action } => {
            let store = connect(&cli.db).await?;
            match action {
                RulesAction::Set { file } => {
                    let source = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    let version =
                        stored_or_problems(&file, store.set_rules(&source, "cli", clock).await)?;
                    println!("stored rules version {version} from {}", file.display());
                    Ok(success)
                }
                RulesAction::Show => {
                    match store.current_rules().await? {
                        Some(rules) => {
                            println!(
                                "# version {} set by {} at {}",
                                rules.version, rules.actor, rules.created_at
                            );
                            print!("{}", rules.source);
                        }
                        None => bail!("no rules are set yet; use `allot rules set FILE.toml`"),
                    }
                    Ok(success)
                }
            }
        }
        Command::Route { json } => {
            let store = connect(&cli.db).await?;
            route(&store, clock, json).await?;
            Ok(success)
        }
        Command::Explain { id, json } => {
            let store = connect(&cli.db).await?;
            let id = CustomerId::parse(&id).context("customer id")?;
            let customer = store.get_customer(&id).await?;
            let decisions = store.decisions_for(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&decisions)?);
                return Ok(success);
            }
            println!(
                "{} {} — owner: {}",
                customer.id,
                customer.name,
                customer
                    .owner_id
                    .as_ref()
                    .map_or("(pool)".to_string(), ToString::to_string)
            );
            let latest_event = store.latest_event(customer.id.as_str()).await?;
            let Some(latest) = decisions.first() else {
                println!("no routing decision is stored for this customer");
                if let Some(event) = &latest_event {
                    print_ownership_change(event);
                }
                return Ok(success);
            };
            print_decision(latest);
            // The decision explains the owner it chose; a later import or manual change of
            // owner is what explains the owner now.
            let current_owner = customer.owner_id.as_ref().map(ToString::to_string);
            if let Some(event) = latest_event
                .as_ref()
                .filter(|_| current_owner != latest.decision.owner_id)
            {
                println!("the owner changed after this decision:");
                print_ownership_change(event);
            }
            if decisions.len() > 1 {
                println!(
                    "({} earlier decision(s): allot explain {} --json)",
                    decisions.len() - 1,
                    customer.id
                );
            }
            Ok(success)
        }
        Command::Report {
            report: ReportKind::Workload { json },
        } => {
            let store = connect(&cli.db).await?;
            let report = store.workload_report(clock).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_workload(&report);
            }
            Ok(success)
        }
        Command::Report {
            report: ReportKind::Value { json },
        } => {
            let store = connect(&cli.db).await?;
            let report = store.value_report().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                value_commands::print_value_report(&report);
            }
            Ok(success)
        }
        Command::Policy { action } => {
            let store = connect(&cli.db).await?;
            value_commands::policy(&store, action, clock).await?;
            Ok(success)
        }
        Command::Score { json, force } => {
            let store = connect(&cli.db).await?;
            value_commands::score(&store, clock, json, force).await?;
            Ok(success)
        }
        Command::Tick { at, json, force } => {
            let clock = match at {
                Some(at) => clock_source
                    .at(&at)
                    .map_err(|error| anyhow::anyhow!("--at: {}", error.message))?,
                None => clock,
            };
            let store = connect(&cli.db).await?;
            value_commands::tick(&store, clock, json, force).await?;
            Ok(success)
        }
        Command::Clv { action } => {
            value_commands::clv_fit(action)?;
            Ok(success)
        }
        Command::Value { id, json } => {
            let store = connect(&cli.db).await?;
            value_commands::customer_value(&store, &id, json).await?;
            Ok(success)
        }
        Command::Tier { action } => {
            let store = connect(&cli.db).await?;
            value_commands::tier(&store, action, clock).await?;
            Ok(success)
        }
        Command::Alerts {
            owner,
            customer,
            all,
            json,
        } => {
            let store = connect(&cli.db).await?;
            value_commands::alerts(&store, owner, customer, all, json).await?;
            Ok(success)
        }
        Command::Token { action } => {
            let store = connect(&cli.db).await?;
            match action {
                TokenAction::Create { name } => {
                    let token = store.create_token(&name, clock).await?;
                    println!("{token}");
                }
                TokenAction::List { json } => {
                    let tokens = store.list_tokens().await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&tokens)?);
                    } else {
                        println!(
                            "{:<12}  {:<28} {:<9} {:<27} revoked",
                            "id", "name", "source", "created"
                        );
                        for token in &tokens {
                            println!(
                                "{:<12}  {:<28} {:<9} {:<27} {}",
                                token.id,
                                token.name,
                                token.source,
                                token.created_at,
                                token.revoked_at.as_deref().unwrap_or("-")
                            );
                        }
                    }
                }
                TokenAction::Revoke { id } => {
                    store.revoke_token(&id, clock).await?;
                    println!("revoked token {id}");
                }
            }
            Ok(success)
        }
        Command::Bench { target } => {
            bench::run(target, &cli.db).await?;
            Ok(success)
        }
    }
}

async fn import(
    store: &Store,
    kind: ImportKind,
    reader: impl io::Read,
    strict: bool,
    clock: allot_core::Clock,
) -> Result<ImportSummary> {
    macro_rules! import_with {
        ($read:expr, $store_call:ident $(, $extra:expr)*) => {{
            let parsed = $read(reader)?;
            let bar = progress_bar(parsed.rows.len() as u64, "importing");
            let tick = |done: u64| bar.set_position(done);
            // The rows that parsed are still checked against the database, so a strict run
            // lists bad references together with parse errors, and still writes nothing.
            let bad_rows = BadRows::new(strict).found_before(parsed.problems);
            let summary = store.$store_call(parsed.rows, bad_rows $(, $extra)*, &tick).await?;
            bar.finish_and_clear();
            Ok(summary)
        }};
    }
    match kind {
        ImportKind::Teams => import_with!(csv_files::read_teams, import_teams),
        ImportKind::Reps => import_with!(csv_files::read_reps, import_reps),
        ImportKind::Customers => {
            import_with!(
                csv_files::read_customers,
                import_customers,
                "import",
                OwnerChangeSource::Import,
                clock
            )
        }
        ImportKind::Transactions => {
            import_with!(csv_files::read_transactions, import_transactions, clock)
        }
        ImportKind::Interactions => {
            import_with!(csv_files::read_interactions, import_interactions, clock)
        }
        ImportKind::Tickets => import_with!(csv_files::read_tickets, import_tickets, clock),
    }
}

fn print_problems(problems: &[RowProblem]) {
    for problem in problems {
        eprintln!(
            "line {}, column {}: {}",
            problem.line, problem.field, problem.message
        );
    }
}

fn print_import_summary(kind: ImportKind, file: &std::path::Path, summary: &ImportSummary) {
    print_problems(&summary.problems);
    for warning in &summary.warnings {
        if warning.line == 0 {
            eprintln!("warning: {}", warning.message);
        } else {
            eprintln!(
                "warning: line {}, column {}: {}",
                warning.line, warning.field, warning.message
            );
        }
    }
    let what = kind.plural();
    let bad_rows: std::collections::BTreeSet<usize> = summary
        .problems
        .iter()
        .map(|problem| problem.line)
        .collect();
    if summary.written {
        let ownership = if matches!(kind, ImportKind::Customers) {
            format!(", {} ownership change(s)", summary.ownership_changes)
        } else {
            String::new()
        };
        println!(
            "{what} from {}: {} inserted, {} updated{ownership}, {} bad row(s){}",
            file.display(),
            summary.inserted,
            summary.updated,
            bad_rows.len(),
            if summary.problems.is_empty() {
                ""
            } else {
                " (listed above, not imported)"
            }
        );
    } else {
        println!(
            "{what} from {}: {} bad row(s); --strict, so nothing was written",
            file.display(),
            bad_rows.len()
        );
    }
}

async fn route(store: &Store, clock: allot_core::Clock, json: bool) -> Result<()> {
    let pool_size = store
        .list_customers(&allot_store::customers::CustomerFilter {
            in_pool: Some(true),
            limit: 1,
            ..Default::default()
        })
        .await?
        .total;
    let bar = progress_bar(pool_size as u64, "routing");
    let tick = |done: u64| bar.set_position(done);
    let run = store.route_pool(clock, "cli", json, &tick).await?;
    bar.finish_and_clear();
    let summary = &run.summary;
    if json {
        let stdout = io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        for decision in &run.decisions {
            serde_json::to_writer(&mut out, decision)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        eprintln!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    println!(
        "routed {} of {} customers in the pool with rules version {}; {} left in the pool",
        summary.routed, summary.considered, summary.rules_version, summary.left_in_pool
    );
    for (rule, count) in &summary.routed_by_rule {
        println!("  {count:>7}  by rule '{rule}'");
    }
    if !summary.pool_reasons.is_empty() {
        println!("left in the pool:");
        for (reason, count) in &summary.pool_reasons {
            println!("  {count:>7}  {reason}");
        }
    }
    Ok(())
}

fn print_ownership_change(event: &allot_store::events::Event) {
    println!(
        "  {} {} → {} by {}: {}",
        event.at,
        event.from_rep_id.as_deref().unwrap_or("(pool)"),
        event.to_rep_id.as_deref().unwrap_or("(pool)"),
        event.actor,
        event.reason
    );
}

fn print_decision(stored: &allot_store::routing::StoredDecision) {
    let decision = &stored.decision;
    println!(
        "decided {} by {} (rules version {})",
        stored.at,
        stored.actor,
        stored
            .rules_version
            .map_or("-".to_string(), |v| v.to_string())
    );
    println!("reason: {}", decision.reason);
    println!("rules tried:");
    for rule in &decision.trace.rules {
        println!(
            "  [{}] {}: {}",
            if rule.matched { "match" } else { "  no " },
            rule.rule,
            rule.detail
        );
    }
    if !decision.trace.candidates.is_empty() {
        println!("candidates:");
        for candidate in &decision.trace.candidates {
            println!(
                "  {:<10} {:<12} {} ({})",
                candidate.status, candidate.rep_id, candidate.reason, candidate.rule
            );
        }
    }
}

fn print_workload(report: &allot_core::fairness::WorkloadReport) {
    println!("workload as of {}", report.as_of);
    println!(
        "{:<10} {:<14} {:<12} {:>6} {:>9} {:>5} {:>6}  available",
        "rep", "name", "team", "owned", "workload", "cap", "util"
    );
    for rep in &report.reps {
        println!(
            "{:<10} {:<14} {:<12} {:>6} {:>9.1} {:>5} {:>6}  {}",
            rep.rep_id,
            rep.name,
            rep.team_id.clone().unwrap_or_default(),
            rep.owned_count,
            rep.total_workload,
            rep.capacity.map_or("-".to_string(), |cap| cap.to_string()),
            rep.utilisation
                .map_or("-".to_string(), |util| format!("{:.0}%", util * 100.0)),
            if rep.available { "yes" } else { "no" }
        );
    }
    println!();
    println!(
        "{:<14} {:>5} {:>10} {:>6} {:>6} {:>8}",
        "team", "reps", "workload", "gini", "jain", "max/mean"
    );
    let measure = |value: Option<f64>, decimals: usize| {
        value.map_or("-".to_string(), |value| format!("{value:.decimals$}"))
    };
    let rows = report
        .teams
        .iter()
        .map(|team| (team.team_id.as_str(), &team.fairness))
        .chain(std::iter::once(("(overall)", &report.overall)));
    for (label, fairness) in rows {
        println!(
            "{:<14} {:>5} {:>10.1} {:>6} {:>6} {:>8}",
            label,
            fairness.available_reps,
            fairness.total_workload,
            measure(fairness.gini, 3),
            measure(fairness.jain, 3),
            measure(fairness.max_over_mean, 2)
        );
    }
}

async fn build_demo(
    store: &Store,
    seed: u64,
    customer_count: usize,
    clock: allot_core::Clock,
) -> Result<()> {
    let organisation = demo_organisation(seed, customer_count, clock);
    let bar = progress_bar(organisation.customers.len() as u64, "demo customers");
    let tick = |done: u64| bar.set_position(done);
    let rules = organisation.rules_toml.clone();
    let [teams, reps, customers] =
        import_organisation(store, organisation, "demo", clock, &tick).await?;
    bar.finish_and_clear();
    let version = store.set_rules(&rules, "demo", clock).await?;
    println!(
        "demo organisation (seed {seed}): {} teams, {} reps, {} customers; rules version {version}",
        teams.inserted + teams.updated,
        reps.inserted + reps.updated,
        customers.inserted + customers.updated
    );
    route(store, clock, false).await?;
    println!();
    print_workload(&store.workload_report(clock).await?);

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
    let summary = store.score_customers(clock, "demo", true).await?;
    value_commands::print_score_summary(&summary);
    Ok(())
}

/// Imports a generated organisation (the demo's, a benchmark's) in the CSV import's three
/// steps, failing on any problem. Customer owners are left out, so importing over an earlier
/// copy keeps who owns what.
pub(crate) async fn import_organisation(
    store: &Store,
    organisation: DemoOrganisation,
    actor: &str,
    clock: allot_core::Clock,
    progress: allot_store::organisation::Progress<'_>,
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
    let customer_columns: Vec<&str> = CustomerFields::COLUMNS
        .into_iter()
        .filter(|column| *column != "owner_id")
        .collect();
    let customers = store
        .import_customers(
            customers
                .into_iter()
                .map(|customer| ImportRow::whole(0, customer, &customer_columns))
                .collect(),
            BadRows::new(true),
            actor,
            OwnerChangeSource::Import,
            clock,
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

async fn serve(store: Store, clock: ClockSource, addr: &str, tick_every: u64) -> Result<()> {
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
    let state = AppState { store, clock };
    if tick_every > 0 {
        allot_server::spawn_scheduler(state.clone(), std::time::Duration::from_secs(tick_every));
        println!("scheduled jobs run every {tick_every} s (--tick-every 0 to leave them to cron)");
    }
    allot_server::serve(listener, state).await?;
    Ok(())
}
