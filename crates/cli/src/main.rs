//! The `allot` binary: a thin command-line shell over the core, the store and the server.

mod bench;
mod bench_servers;
mod care_commands;
mod conflict_commands;
mod data_commands;
mod demo;
mod lifecycle_commands;
mod operations_commands;
mod optimise_commands;
mod rebalance_commands;
mod routing_commands;
mod table;
mod ticket_commands;
mod token_commands;
mod value_commands;

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use allot_server::operations::RateLimit;
use allot_server::ClockSource;
use allot_store::Store;

/// Imports and routes allocate a few small values per row on one thread and free them on
/// another; glibc's allocator spent a quarter of an import's CPU time on that (measured with
/// `perf`, see docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Log lines as `text` (for people) or `json` (one object per line, for log collectors;
    /// a request's lines carry its `request_id`).
    #[arg(long, global = true, env = "ALLOT_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
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
        /// API calls per second one token may make (bursts of twice that); 0 for no limit.
        #[arg(long, env = "ALLOT_RATE_LIMIT", default_value_t = allot_server::operations::RateLimit::DEFAULT.per_second)]
        rate_limit: u32,
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
        /// API calls per second one token may make (bursts of twice that); 0 for no limit.
        #[arg(long, env = "ALLOT_RATE_LIMIT", default_value_t = allot_server::operations::RateLimit::DEFAULT.per_second)]
        rate_limit: u32,
    },
    /// Import a CSV file (UTF-8, header row) or an Excel workbook (.xlsx, the first sheet or
    /// --sheet); upsert by id.
    Import {
        kind: ImportKind,
        file: PathBuf,
        /// Write nothing if any row is bad.
        #[arg(long)]
        strict: bool,
        /// The workbook's sheet to read (its first by default).
        #[arg(long)]
        sheet: Option<String>,
    },
    /// Export as CSV, to stdout or --out: teams, reps and customers in the import format (owners
    /// included); values as one row per graded customer (tier, score, RFM, CLV, health); events
    /// (the audit ledger) as CSV or JSON lines.
    Export {
        kind: DataKind,
        #[arg(long)]
        out: Option<PathBuf>,
        /// `csv`, or `json` (JSON lines; events only).
        #[arg(long, default_value = "csv")]
        format: ExportFormat,
    },
    /// Erase a customer's personal data (name, phone, email, credit code, text attributes,
    /// match keys, conflict records, ticket subjects, trace facts, and the reasons, comments and
    /// notifications people typed about it), keeping ids, amounts and the ownership history;
    /// the erasure is logged as a `customer.forgotten` event.
    Forget {
        id: String,
        /// Why (the request and its date): kept in the event.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
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
    /// What a rules file would do before it is set: owner changes, pool placements and
    /// fairness before and after, nothing written.
    Simulate {
        /// The proposed rules (TOML, as `allot rules set` takes them).
        #[arg(long)]
        rules: PathBuf,
        /// Which customers to route: `pool`, `owned` or `all`.
        #[arg(long, default_value = "all", value_parser = ["pool", "owned", "all"])]
        scope: String,
        /// List at most this many owner changes and placements (all are counted); 50 by
        /// default, every one with --json.
        #[arg(long)]
        limit: Option<usize>,
        /// The whole report as JSON (every change listed unless --limit is given).
        #[arg(long)]
        json: bool,
    },
    /// A plan that evens workload between eligible reps at the least churn (holding caps
    /// hard, moves weighed by tier, load above each team's mean in rising bands, affinity):
    /// printed as a dry run, or with --apply opened as transfers of kind rebalance.
    Rebalance {
        /// Only this team's subtree.
        #[arg(long)]
        team: Option<String>,
        /// At most this many moves (a hard limit).
        #[arg(long)]
        max_moves: Option<usize>,
        /// List at most this many moves (all are counted); 50 by default.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The whole plan as JSON, every move listed.
        #[arg(long)]
        json: bool,
        /// Open the plan's transfers (kind rebalance) for approval.
        #[arg(long)]
        apply: bool,
        /// With --apply: move the customers at once, each with its event.
        #[arg(long)]
        no_approval: bool,
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
    /// Web UI logins: set a rep's password.
    User {
        #[command(subcommand)]
        action: token_commands::UserAction,
    },
    /// Claim a pool customer for a rep (claim limit, holding caps and cooldown apply).
    Claim {
        id: String,
        #[arg(long)]
        rep: String,
        #[arg(long)]
        json: bool,
    },
    /// Return a customer to the pool, saying why.
    Release {
        id: String,
        #[arg(long)]
        reason: String,
        /// Act as this rep (its own customers; a manager its subtree's).
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The public pool (公海): list it, or preview the next reclaim.
    Pool {
        #[command(subcommand)]
        action: lifecycle_commands::PoolAction,
    },
    /// Transfers with approval and hand-over: request, list, show, approve, reject, accept,
    /// decline, cancel.
    Transfer {
        #[command(subcommand)]
        action: lifecycle_commands::TransferAction,
    },
    /// 撞单 conflicts: list, show, dispute, decide (keep or move), merge.
    Conflicts {
        #[command(subcommand)]
        action: conflict_commands::ConflictAction,
    },
    /// The care calendar: tasks by day (`--ics` for a rep's iCalendar feed).
    Calendar(care_commands::CalendarArguments),
    /// Care tasks: complete one with the interaction that did it.
    Tasks {
        #[command(subcommand)]
        action: care_commands::TaskAction,
    },
    /// Tickets and their service clocks: list, show, respond, resolve, reopen, rate.
    Tickets {
        #[command(subcommand)]
        action: ticket_commands::TicketAction,
    },
    /// Reps: deactivate one that leaves.
    Reps {
        #[command(subcommand)]
        action: lifecycle_commands::RepsAction,
    },
    /// A rep's notifications (warnings, reclaims, transfer steps); without --as, the admins'.
    Notifications {
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        unread: bool,
        #[arg(long)]
        json: bool,
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
    /// Check the store's invariants on one snapshot: owners are reps, ownership events chain
    /// to each customer's owner, loads recount, one open transfer per customer. Exits non-zero
    /// when one is broken.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent snapshot of every table to FILE (portable JSON lines, either backend).
    Backup { file: PathBuf },
    /// Load a backup into the empty database of --db (SQLite or PostgreSQL, whichever wrote it):
    /// all of it in one transaction, or nothing.
    Restore { file: PathBuf },
    /// Measure routing throughput (see docs/BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        target: bench::BenchTarget,
    },
    /// The exact min-cost-flow solver on DIMACS files (no database).
    Mcf {
        #[command(subcommand)]
        action: McfAction,
    },
    /// The generalised-assignment solver on OR-Library files (no database).
    Gap {
        #[command(subcommand)]
        action: GapAction,
    },
}

#[derive(Subcommand)]
enum GapAction {
    /// Solve an OR-Library GAP file (`m n`, the cost matrix, the weight matrix, the capacities;
    /// minimisation), or every instance of a collection whose first line is their number:
    /// prints the cost, the lower bound and the gap between them; exits non-zero when no
    /// feasible assignment was found.
    Solve {
        file: PathBuf,
        /// `{"status", "cost", "bound", "gap", "assignment": [agent of item 1, …]}` (agents
        /// 0-based), one line per instance.
        #[arg(long)]
        json: bool,
        /// Moves the tabu search may evaluate, the ejection chains twice as many (work, not
        /// time: the answer is the same on every machine).
        #[arg(long, default_value_t = 200_000_000)]
        effort: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum McfAction {
    /// Solve a DIMACS min-cost-flow file (`p min N M`, `n ID SUPPLY`, `a U V LOW CAP COST`):
    /// prints `s COST` and `f U V FLOW` per arc with flow; exits non-zero when infeasible or
    /// unbounded.
    Solve {
        file: PathBuf,
        /// `{"status", "cost", "flows": [{"from", "to", "flow"}]}` instead.
        #[arg(long)]
        json: bool,
    },
    /// Write a seeded customer → rep assignment network in DIMACS form to standard output
    /// (each customer to its current rep at no cost or another candidate at a move cost, each
    /// rep's load above the mean in bands of rising cost).
    Generate {
        #[arg(long)]
        customers: usize,
        /// Candidate reps per customer.
        #[arg(long, default_value_t = 8)]
        candidates: usize,
        #[arg(long)]
        reps: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DataKind {
    Teams,
    Reps,
    Customers,
    /// Every graded customer's value (export only).
    Values,
    /// The event log, oldest first: the audit ledger of every ownership change and erasure
    /// (export only; `--format json` for JSON lines).
    Events,
}

/// How `allot export` writes.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Csv,
    /// One JSON object per line (events only).
    Json,
}

/// What `allot import` reads: teams, reps and customers, and activity.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ImportKind {
    Teams,
    Reps,
    Customers,
    Transactions,
    Interactions,
    Tickets,
}

impl ImportKind {
    /// The same kind as the file library names it.
    fn of_files(self) -> allot_files::import::ImportKind {
        use allot_files::import::ImportKind as Files;
        match self {
            ImportKind::Teams => Files::Teams,
            ImportKind::Reps => Files::Reps,
            ImportKind::Customers => Files::Customers,
            ImportKind::Transactions => Files::Transactions,
            ImportKind::Interactions => Files::Interactions,
            ImportKind::Tickets => Files::Tickets,
        }
    }

    fn plural(self) -> &'static str {
        self.of_files().plural()
    }
}

#[derive(Subcommand)]
enum RulesAction {
    /// Validate a rules file and store it as a new version.
    Set { file: PathBuf },
    /// Print the current rules as they were set.
    Show {
        /// In the canonical layout instead (keys in a fixed order, no comments): what the
        /// stored rules mean, to compare two versions or to start a new file from.
        #[arg(long)]
        canonical: bool,
    },
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
    /// Per tier, team and rep: shares of customers, value and service effort, SLA attainment,
    /// baseline coverage, days since the last real follow-up.
    Service(care_commands::ReportArguments),
    /// Coverage of each baseline service check, with the customers that fail.
    Baseline(care_commands::ReportArguments),
    /// The value × service quadrant: under- and over-served customers.
    Quadrant(care_commands::ReportArguments),
    /// Per rep: revenue, new customers won, SLA attainment, rating, follow-up rate, score.
    Performance(care_commands::ReportArguments),
    /// Skew alerts: tiers out of their effort band, teams over the new-customer budget,
    /// overloaded reps.
    Skew {
        /// Closed alerts too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a new API token and print it once (only its hash is stored): an admin token, or
    /// with `--rep` one that acts as that rep with the rep's role (rep or manager).
    Create {
        /// What the token is for ("phone", "crm-sync"); defaults to the rep id or "admin".
        #[arg(long, default_value = "")]
        name: String,
        /// The rep the token acts as; its changes are recorded as `rep:ID`.
        #[arg(long)]
        rep: Option<String>,
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
    let cli = Cli::parse();
    start_logging(cli.log_format, matches!(cli.command, Command::Bench { .. }));
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

/// Logs to stderr as text or JSON lines, filtered by `ALLOT_LOG` (tracing's env-filter syntax).
fn start_logging(format: LogFormat, benchmarking: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ALLOT_LOG").unwrap_or_else(|_| {
        // sqlx warns of every statement over a second; loading all activity for grading is
        // one, and expected, so only its errors reach the user. A benchmark sends requests
        // by the hundred thousand: a line for each would measure the terminal.
        let access = if benchmarking { "warn" } else { "info" };
        tracing_subscriber::EnvFilter::new(format!(
            "warn,sqlx::query=error,allot=info,allot_server=info,allot_server::access={access}"
        ))
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    match format {
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        // Colour only for a person at a terminal: a log file or pipe gets plain text, and
        // NO_COLOR (no-color.org) turns colour off everywhere.
        LogFormat::Text => logs.with_ansi(colour_wanted()).init(),
    }
}

/// Whether log lines may carry colour codes.
fn colour_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()) && io::stderr().is_terminal()
}

/// The version a document (rules, value policy) was stored as, or each of its problems printed
/// as `FILE: rule '…', line L, column C: …` and an error saying nothing was stored.
fn stored_or_problems<T>(
    file: &std::path::Path,
    result: Result<T, allot_store::StoreError>,
) -> Result<T> {
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
    let db = cli.db.as_str();
    let success = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Serve {
            addr,
            tick_every,
            rate_limit,
        } => {
            let options = demo::ServeOptions {
                addr,
                tick_every,
                rate_limit: RateLimit {
                    per_second: rate_limit,
                },
            };
            demo::serve(connect(db).await?, clock_source, &options).await?
        }
        Command::Demo {
            seed,
            customers,
            addr,
            no_serve,
            tick_every,
            rate_limit,
        } => {
            let store = connect(db).await?;
            demo::build_demo(&store, seed, customers, clock).await?;
            if !no_serve {
                let options = demo::ServeOptions {
                    addr,
                    tick_every,
                    rate_limit: RateLimit {
                        per_second: rate_limit,
                    },
                };
                demo::serve(store, clock_source, &options).await?;
            }
        }
        Command::Import {
            kind,
            file,
            strict,
            sheet,
        } => {
            let store = connect(db).await?;
            return data_commands::import(&store, kind, &file, sheet.as_deref(), strict, clock)
                .await;
        }
        Command::Export { kind, out, format } => {
            data_commands::export(&connect(db).await?, kind, out.as_deref(), format).await?
        }
        Command::Forget { id, reason, json } => {
            operations_commands::forget(&connect(db).await?, &id, &reason, clock, json).await?
        }
        Command::Rules { action } => {
            routing_commands::rules(&connect(db).await?, action, clock).await?
        }
        Command::Rebalance {
            team,
            max_moves,
            limit,
            json,
            apply,
            no_approval,
        } => {
            rebalance_commands::rebalance(
                &connect(db).await?,
                rebalance_commands::RebalanceArguments {
                    team,
                    max_moves,
                    limit,
                    json,
                    apply,
                    no_approval,
                },
                clock,
            )
            .await?
        }
        Command::Route { json } => {
            routing_commands::route(&connect(db).await?, clock, json).await?
        }
        Command::Simulate {
            rules,
            scope,
            limit,
            json,
        } => {
            routing_commands::simulate(
                &connect(db).await?,
                &rules,
                &scope,
                limit.unwrap_or(if json { usize::MAX } else { 50 }),
                json,
                clock,
            )
            .await?
        }
        Command::Backup { file } => {
            operations_commands::backup(&connect(db).await?, &file, clock).await?
        }
        Command::Restore { file } => {
            operations_commands::restore(&connect(db).await?, &file).await?
        }
        Command::Check { json } => {
            return operations_commands::check(&connect(db).await?, json).await;
        }
        Command::Explain { id, json } => {
            routing_commands::explain(&connect(db).await?, &id, json).await?
        }
        Command::Report { report } => match report {
            ReportKind::Workload { json } => {
                routing_commands::workload(&connect(db).await?, clock, json).await?
            }
            ReportKind::Value { json } => {
                value_commands::value_report(&connect(db).await?, json).await?
            }
            ReportKind::Service(arguments) => {
                care_commands::report(
                    &connect(db).await?,
                    care_commands::ServiceReportKind::Service,
                    arguments,
                    clock,
                )
                .await?
            }
            ReportKind::Baseline(arguments) => {
                care_commands::report(
                    &connect(db).await?,
                    care_commands::ServiceReportKind::Baseline,
                    arguments,
                    clock,
                )
                .await?
            }
            ReportKind::Skew { all, json } => {
                care_commands::skew(&connect(db).await?, all, json).await?
            }
            ReportKind::Performance(arguments) => {
                care_commands::report(
                    &connect(db).await?,
                    care_commands::ServiceReportKind::Performance,
                    arguments,
                    clock,
                )
                .await?
            }
            ReportKind::Quadrant(arguments) => {
                care_commands::report(
                    &connect(db).await?,
                    care_commands::ServiceReportKind::Quadrant,
                    arguments,
                    clock,
                )
                .await?
            }
        },
        Command::Policy { action } => {
            value_commands::policy(&connect(db).await?, action, clock).await?
        }
        Command::Score { json, force } => {
            value_commands::score(&connect(db).await?, clock, json, force).await?
        }
        Command::Tick { at, json, force } => {
            let clock = match at {
                Some(at) => clock_source
                    .at(&at)
                    .map_err(|error| anyhow::anyhow!("--at: {}", error.message))?,
                None => clock,
            };
            value_commands::tick(&connect(db).await?, clock, json, force).await?
        }
        Command::Clv { action } => value_commands::clv_fit(action)?,
        Command::Value { id, json } => {
            value_commands::customer_value(&connect(db).await?, &id, json).await?
        }
        Command::Tier { action } => {
            value_commands::tier(&connect(db).await?, action, clock).await?
        }
        Command::Alerts {
            owner,
            customer,
            all,
            json,
        } => value_commands::alerts(&connect(db).await?, owner, customer, all, json).await?,
        Command::Token { action } => {
            token_commands::token(&connect(db).await?, action, clock).await?
        }
        Command::User { action } => {
            token_commands::user(&connect(db).await?, action, clock).await?
        }
        Command::Bench { target } => bench::run(target, db).await?,
        Command::Mcf { action } => match action {
            McfAction::Solve { file, json } => optimise_commands::solve(&file, json)?,
            McfAction::Generate {
                customers,
                candidates,
                reps,
                seed,
            } => optimise_commands::generate(customers, candidates, reps, seed)?,
        },
        Command::Gap {
            action:
                GapAction::Solve {
                    file,
                    json,
                    effort,
                    seed,
                },
        } => optimise_commands::gap_solve(&file, json, effort, seed)?,
        Command::Claim { id, rep, json } => {
            lifecycle_commands::claim(&connect(db).await?, &id, &rep, json, clock).await?
        }
        Command::Release {
            id,
            reason,
            acting_as,
            json,
        } => {
            lifecycle_commands::release(
                &connect(db).await?,
                &id,
                &reason,
                acting_as.as_deref(),
                json,
                clock,
            )
            .await?
        }
        Command::Pool { action } => {
            lifecycle_commands::pool(&connect(db).await?, action, clock).await?
        }
        Command::Transfer { action } => {
            lifecycle_commands::transfer(&connect(db).await?, action, clock).await?
        }
        Command::Calendar(arguments) => {
            care_commands::calendar(&connect(db).await?, arguments, clock).await?
        }
        Command::Tasks { action } => {
            care_commands::tasks(&connect(db).await?, action, clock).await?
        }
        Command::Tickets { action } => {
            ticket_commands::tickets(&connect(db).await?, action, clock).await?
        }
        Command::Conflicts { action } => {
            conflict_commands::conflicts(&connect(db).await?, action, clock).await?
        }
        Command::Reps { action } => {
            lifecycle_commands::reps(&connect(db).await?, action, clock).await?
        }
        Command::Notifications {
            acting_as,
            unread,
            json,
        } => {
            lifecycle_commands::notifications(
                &connect(db).await?,
                acting_as.as_deref(),
                unread,
                json,
            )
            .await?
        }
    }
    Ok(success)
}
