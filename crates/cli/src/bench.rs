//! `allot bench`: end-to-end throughput of routing through the store, and of `POST /api/v1/route` under load.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use allot_core::demo::{synthetic_organisation, DemoOrganisation};
use allot_core::Clock;
use allot_core::CustomerFields;
use allot_server::{AppState, ClockSource};
use allot_store::Store;

use allot_files::csv::{self as csv_files, CustomerWriter};

/// One run of the several-servers bench.
pub struct ServersLoad {
    pub servers: usize,
    pub requests: usize,
    pub concurrency: usize,
    pub prefix: String,
}

/// The size of the route bench's synthetic organisation.
#[derive(Args, Clone, Copy)]
pub struct OrganisationSize {
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    #[arg(long, default_value_t = 1_000)]
    reps: usize,
    #[arg(long, default_value_t = 50)]
    rules: usize,
}

#[derive(Subcommand)]
pub enum BenchTarget {
    /// Load a synthetic organisation into an EMPTY database, then time `allot route` over the whole pool.
    Route {
        #[command(flatten)]
        size: OrganisationSize,
    },
    /// Serve on a loopback port over an EMPTY database and send concurrent `POST /api/v1/route` requests.
    Api {
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 200)]
        reps: usize,
        #[arg(long, default_value_t = 20)]
        rules: usize,
    },
    /// Serve on a loopback port over an EMPTY database of pool customers and send concurrent
    /// `POST /api/v1/customers/{id}/claim` requests, each as a rep with its own token.
    Claims {
        #[arg(long, default_value_t = 5_000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 200)]
        reps: usize,
    },
    /// Over an EMPTY database: load, route and grade the route bench's organisation, serve it on
    /// a loopback port, log in to the web UI as an admin (everyone in view) and as a manager,
    /// and time the dashboard and the customer list, one request after another.
    Web {
        #[command(flatten)]
        size: OrganisationSize,
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
    /// Several `allot serve` processes on the database of --db (PostgreSQL for more than one),
    /// with requests spread over them: `POST /api/v1/route` of new customers, requests/s and
    /// latency, each server's memory, the CPU time of the servers and of PostgreSQL, then the
    /// store's invariants and the round robin's exactness. Sets up an organisation (one team
    /// tree, one round-robin rule, --customers pool customers) when the database has none;
    /// later runs reuse it with another --prefix.
    Servers {
        #[arg(long, default_value_t = 1)]
        servers: usize,
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 200)]
        reps: usize,
        /// Pool customers loaded with the organisation (the database's size).
        #[arg(long, default_value_t = 0)]
        customers: usize,
        /// The new customers' id prefix: another per run on one database.
        #[arg(long, default_value = "s")]
        prefix: String,
    },
    /// Write the route bench's organisation as files to import (teams.csv, reps.csv,
    /// customers.csv, rules.toml), to time the real commands; needs no database.
    Generate {
        #[command(flatten)]
        size: OrganisationSize,
        /// The directory to write the files into (created if missing).
        #[arg(long)]
        directory: PathBuf,
        /// Also write `new_customers.csv`: this many customers more, to import after the
        /// others (times duplicate matching, 撞单).
        #[arg(long, default_value_t = 0)]
        new_customers: usize,
        /// The share of `new_customers.csv` that gives the phone of a customer of
        /// `customers.csv`, so it is a duplicate.
        #[arg(long, default_value_t = 10)]
        duplicate_percent: usize,
        /// Also write `interactions.csv`: this many interactions per customer of
        /// `customers.csv`, by reps, kinds and times drawn from a fixed seed in January and
        /// February 2027 (times the reclaim job).
        #[arg(long, default_value_t = 0)]
        interactions_per_customer: usize,
        /// Also write `tickets.csv`: this many tickets of customers of `customers.csv` opened
        /// in February 2027, a fifth of them resolved, the rest open (times the service jobs).
        #[arg(long, default_value_t = 0)]
        tickets: usize,
    },
}

impl OrganisationSize {
    /// The organisation of this size, from the route bench's fixed seed.
    fn organisation(self) -> DemoOrganisation {
        synthetic_organisation(
            11,
            (self.reps / 20).max(2),
            self.reps,
            self.customers,
            self.rules,
        )
    }
}

pub(crate) fn bench_clock() -> Clock {
    Clock::parse("2026-11-25T09:00:00+08:00").expect("fixed bench clock")
}

async fn load_organisation(
    store: &Store,
    organisation: DemoOrganisation,
    with_customers: bool,
) -> Result<()> {
    let clock = bench_clock();
    let empty = store.list_reps().await?.is_empty() && store.list_teams().await?.is_empty();
    if !empty {
        bail!("the bench needs an empty database; pass --db with a fresh sqlite:// file or postgres database");
    }
    let count = organisation.customers.len();
    let rules = organisation.rules_toml.clone();
    let mut organisation = organisation;
    if !with_customers {
        organisation.customers.clear();
    }
    let started = Instant::now();
    crate::demo::import_organisation(store, organisation, "bench", clock, &|_| {}).await?;
    if with_customers {
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "import: {count} customers in {seconds:.2} s ({:.0} customers/s)",
            count as f64 / seconds
        );
    }
    store.set_rules(&rules, "bench", clock).await?;
    Ok(())
}

pub async fn run(target: BenchTarget, db: &str) -> Result<()> {
    if let BenchTarget::Generate {
        size,
        directory,
        new_customers,
        duplicate_percent,
        interactions_per_customer,
        tickets,
    } = target
    {
        return generate(
            size,
            &directory,
            new_customers,
            duplicate_percent,
            interactions_per_customer,
            tickets,
        );
    }
    let store = Store::connect(db)
        .await
        .with_context(|| format!("opening {db}"))?;
    match target {
        BenchTarget::Route { size } => bench_route(&store, size).await,
        BenchTarget::Api {
            requests,
            concurrency,
            reps,
            rules,
        } => bench_api(&store, requests, concurrency, reps, rules).await,
        BenchTarget::Claims {
            requests,
            concurrency,
            reps,
        } => bench_claims(&store, requests, concurrency, reps).await,
        BenchTarget::Web { size, requests } => bench_web(&store, size, requests).await,
        BenchTarget::Servers {
            servers,
            requests,
            concurrency,
            reps,
            customers,
            prefix,
        } => {
            let load = ServersLoad {
                servers,
                requests,
                concurrency,
                prefix,
            };
            crate::bench_servers::bench_servers(&store, db, &load, reps, customers).await
        }
        BenchTarget::Generate { .. } => unreachable!("handled above"),
    }
}

/// The bench's organisation as the files a user would import: `teams.csv`, `reps.csv`,
/// `customers.csv` and `rules.toml`, so the real commands can be timed and their memory read.
fn generate(
    size: OrganisationSize,
    directory: &Path,
    new_customers: usize,
    duplicate_percent: usize,
    interactions_per_customer: usize,
    tickets: usize,
) -> Result<()> {
    if duplicate_percent > 100 {
        bail!("--duplicate-percent: {duplicate_percent} is not a share from 0 to 100");
    }
    let mut organisation = OrganisationSize {
        customers: size.customers + new_customers,
        ..size
    }
    .organisation();
    let mut later = organisation.customers.split_off(size.customers);
    std::fs::create_dir_all(directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let create = |name: &str| -> Result<BufWriter<File>> {
        let path = directory.join(name);
        Ok(BufWriter::new(
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        ))
    };
    csv_files::write_teams(create("teams.csv")?, &organisation.teams)?;
    csv_files::write_reps(create("reps.csv")?, &organisation.reps)?;
    let mut attribute_keys: Vec<String> = organisation
        .customers
        .iter()
        .flat_map(|customer| customer.attributes.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    attribute_keys.sort();
    let mut writer = CustomerWriter::new(create("customers.csv")?, attribute_keys.clone())?;
    writer.write(&organisation.customers)?;
    writer.finish()?;
    if !later.is_empty() {
        // Every n-th new customer takes the phone of an existing one, spread over the file.
        let existing = organisation.customers.len();
        for (index, customer) in later.iter_mut().enumerate() {
            let duplicate = (index * duplicate_percent) % 100 < duplicate_percent;
            if existing > 0 && duplicate_percent > 0 && duplicate {
                let source = &organisation.customers[(index * 7_919) % existing];
                customer.phone = source.phone.clone();
            }
        }
        let mut writer = CustomerWriter::new(create("new_customers.csv")?, attribute_keys)?;
        writer.write(&later)?;
        writer.finish()?;
    }
    if interactions_per_customer > 0 {
        write_interactions(
            create("interactions.csv")?,
            &organisation,
            interactions_per_customer,
        )?;
    }
    if tickets > 0 {
        write_tickets(create("tickets.csv")?, &organisation, tickets)?;
    }
    create("rules.toml")?.write_all(organisation.rules_toml.as_bytes())?;
    println!(
        "wrote {} teams, {} reps, {} customers{} and {} rules to {}",
        organisation.teams.len(),
        organisation.reps.len(),
        organisation.customers.len(),
        if later.is_empty() {
            String::new()
        } else {
            format!(" (and {} new ones in new_customers.csv)", later.len())
        },
        size.rules,
        directory.display()
    );
    Ok(())
}

/// `per_customer` interactions of each customer, by reps, kinds and minutes of January and
/// February 2027 drawn from a fixed seed (xorshift): the same file every time.
fn write_interactions(
    out: impl Write,
    organisation: &DemoOrganisation,
    per_customer: usize,
) -> Result<()> {
    const KINDS: [(&str, &str); 5] = [
        ("visit", "met"),
        ("call", "reached"),
        ("call", "no_answer"),
        ("email", "sent"),
        ("meeting", "met"),
    ];
    let reps: Vec<&str> = organisation
        .reps
        .iter()
        .map(|rep| rep.id.as_str())
        .collect();
    if reps.is_empty() {
        bail!("--interactions-per-customer: the organisation has no reps");
    }
    let start = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00+08:00")?;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(["customer_id", "rep_id", "at", "kind", "minutes", "outcome"])?;
    for customer in &organisation.customers {
        for _ in 0..per_customer {
            let (kind, outcome) = KINDS[next(KINDS.len())];
            let at = start + chrono::Duration::minutes(next(59 * 24 * 60) as i64);
            writer.write_record([
                customer.id.as_str(),
                reps[next(reps.len())],
                &at.to_rfc3339(),
                kind,
                &(5 + next(60)).to_string(),
                outcome,
            ])?;
        }
    }
    writer.flush()?;
    Ok(())
}

/// `count` tickets of customers spread over the file, opened in February 2027 from a fixed
/// seed: a tenth major, a tenth complaints, a fifth answered and resolved within a day.
fn write_tickets(out: impl Write, organisation: &DemoOrganisation, count: usize) -> Result<()> {
    let customers = organisation.customers.len();
    if customers == 0 {
        bail!("--tickets: the organisation has no customers");
    }
    let start = chrono::DateTime::parse_from_rfc3339("2027-02-01T00:00:00+08:00")?;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "id",
        "customer_id",
        "opened_at",
        "severity",
        "kind",
        "subject",
        "first_response_at",
        "resolved_at",
    ])?;
    for number in 0..count {
        let customer = &organisation.customers[(number * 7_919) % customers];
        let opened = start + chrono::Duration::minutes(next(27 * 24 * 60) as i64);
        let resolved = next(5) == 0;
        let answered = opened + chrono::Duration::minutes(30 + next(600) as i64);
        writer.write_record([
            format!("k{number:07}").as_str(),
            customer.id.as_str(),
            &opened.to_rfc3339(),
            if next(10) == 0 { "major" } else { "general" },
            if next(10) == 0 {
                "complaint"
            } else {
                "request"
            },
            "bench",
            &if resolved {
                answered.to_rfc3339()
            } else {
                String::new()
            },
            &if resolved {
                (answered + chrono::Duration::hours(20)).to_rfc3339()
            } else {
                String::new()
            },
        ])?;
    }
    writer.flush()?;
    Ok(())
}

async fn bench_route(store: &Store, size: OrganisationSize) -> Result<()> {
    let organisation = size.organisation();
    load_organisation(store, organisation, true).await?;
    let started = Instant::now();
    let run = store
        .route_pool(bench_clock(), "bench", false, &|_| {})
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "route ({:?}): {} customers, {} routed, {} left in pool, in {seconds:.2} s = {:.0} customers/s",
        store.backend(),
        run.summary.considered,
        run.summary.routed,
        run.summary.left_in_pool,
        run.summary.considered as f64 / seconds
    );
    Ok(())
}

async fn bench_api(
    store: &Store,
    requests: usize,
    concurrency: usize,
    reps: usize,
    rules: usize,
) -> Result<()> {
    let organisation = synthetic_organisation(12, (reps / 20).max(2), reps, requests, rules);
    let bodies: Vec<CustomerFields> = organisation
        .customers
        .iter()
        .map(|customer| {
            let mut fields = CustomerFields::from_customer(customer);
            fields.remove("parent_id");
            fields.remove("owner_id");
            fields
        })
        .collect();
    load_organisation(store, organisation, false).await?;
    let token = allot_store::auth::generate_token();
    store
        .ensure_admin_token(Some(&token), bench_clock())
        .await?;
    let (server, origin, client) = serve_on_loopback(store, concurrency).await?;
    let addresses = Arc::new(vec![format!("{origin}/api/v1/route")]);
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    store.reset_lock_statistics();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        workers.push(tokio::spawn(send_requests(
            client.clone(),
            addresses.clone(),
            token.clone(),
            bodies.clone(),
            next.clone(),
        )));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    let lock = store.lock_hold();
    server.abort();
    latencies.sort();
    let percentile = |fraction: f64| percentile_ms(&latencies, fraction);
    println!(
        "api ({:?}): {} requests, concurrency {concurrency}, in {seconds:.2} s = {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        store.backend(),
        latencies.len(),
        latencies.len() as f64 / seconds,
        percentile(0.50),
        percentile(0.99),
        percentile(1.0)
    );
    println!(
        "routing lock: {} transactions held it {:.2} s in all ({:.3} ms a request; mean {:.3} ms, longest {:.2} ms a transaction)",
        lock.transactions,
        lock.total.as_secs_f64(),
        lock.total.as_secs_f64() * 1000.0 / latencies.len().max(1) as f64,
        lock.mean().as_secs_f64() * 1000.0,
        lock.longest.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The real server on a loopback port over `store` at the bench's clock, its origin
/// (`http://127.0.0.1:PORT`), and a client keeping a connection per concurrent sender.
async fn serve_on_loopback(
    store: &Store,
    concurrency: usize,
) -> Result<(
    tokio::task::JoinHandle<std::io::Result<()>>,
    String,
    reqwest::Client,
)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    // The bench's senders share one token and are meant to saturate the server.
    let state = AppState::new(store.clone(), ClockSource::fixed(bench_clock()))
        .with_rate_limit(allot_server::operations::RateLimit::OFF);
    let server = tokio::spawn(async move { allot_server::serve(listener, state).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    Ok((server, origin, client))
}

/// The web UI's dashboard and customer list timed as an admin and as a manager.
async fn bench_web(store: &Store, size: OrganisationSize, requests: usize) -> Result<()> {
    let clock = bench_clock();
    load_organisation(store, size.organisation(), true).await?;
    store.route_pool(clock, "bench", false, &|_| {}).await?;
    store.score_customers(clock, "bench", true).await?;
    let admin = serde_json::from_value::<allot_core::input::RepFields>(serde_json::json!({
        "id": "bench-admin", "name": "bench admin", "email": "bench-admin@example.com", "role": "admin",
    }))?
    .into_rep()
    .map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
    store
        .put_rep(
            &admin,
            &allot_core::update::GivenColumns::all(allot_core::input::RepFields::COLUMNS),
        )
        .await?;
    // The synthetic organisation has no managers: the first rep of the first team below the
    // root becomes that team's manager, so its view is a subtree.
    let mut team = store
        .list_teams()
        .await?
        .into_iter()
        .find(|team| team.parent_id.is_some())
        .context("the organisation has no team below its root")?;
    let mut manager = store
        .list_reps()
        .await?
        .into_iter()
        .find(|state| state.rep.active && state.rep.team_id.as_ref() == Some(&team.id))
        .map(|state| state.rep)
        .context("the team has no active rep")?;
    manager.role = allot_core::Role::Manager;
    store
        .put_rep(
            &manager,
            &allot_core::update::GivenColumns::all(allot_core::input::RepFields::COLUMNS),
        )
        .await?;
    team.manager_id = Some(manager.id.clone());
    store
        .put_team(
            &team,
            &allot_core::update::GivenColumns::all(allot_core::input::TeamFields::COLUMNS),
        )
        .await?;
    let manager = manager.id;
    let password = "bench password 1";
    let (server, origin, _) = serve_on_loopback(store, 1).await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    for who in [admin.id.clone(), manager] {
        store.set_password(&who, password, clock).await?;
        let login = client.get(format!("{origin}/login")).send().await?;
        let login_cookie = login
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|value| value.strip_prefix("allot_login="))
            .and_then(|value| value.split(';').next())
            .context("the login page sets its cookie")?
            .to_string();
        let answer = client
            .post(format!("{origin}/login"))
            .header(
                reqwest::header::COOKIE,
                format!("allot_login={login_cookie}"),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!(
                "rep_id={who}&password=bench+password+1&csrf={login_cookie}"
            ))
            .send()
            .await?;
        let session = answer
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|value| value.strip_prefix("allot_session="))
            .and_then(|value| value.split(';').next())
            .with_context(|| format!("{who} logs in: {}", answer.status()))?
            .to_string();
        // A customer the caller sees, for its 360 page.
        let principal = store.principal_of_rep(&who).await?;
        let view = store.view_of(&principal, clock).await?;
        let shown = store
            .list_customers(&allot_store::customers::CustomerFilter {
                in_pool: Some(false),
                view: (!view.is_everything()).then_some(view),
                limit: 1,
                ..Default::default()
            })
            .await?
            .items
            .first()
            .map(|customer| customer.id.to_string())
            .context("the caller sees no owned customer")?;
        let customer_page = format!("/customers/{shown}");
        for path in [
            "/",
            "/customers",
            "/customers?q=1234",
            customer_page.as_str(),
            "/pool",
            "/transfers",
            "/reps",
        ] {
            let mut latencies = Vec::with_capacity(requests);
            for _ in 0..requests {
                let sent = Instant::now();
                let response = client
                    .get(format!("{origin}{path}"))
                    .header(
                        reqwest::header::COOKIE,
                        format!("allot_session={session}; allot_lang=en"),
                    )
                    .send()
                    .await?;
                let status = response.status();
                let page = response.text().await?;
                if !status.is_success() {
                    bail!("GET {path} as {who}: {status} {page}");
                }
                latencies.push(sent.elapsed());
            }
            latencies.sort();
            println!(
                "web ({:?}, {} customers): GET {path} as {who}: {requests} requests one at a time, p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
                store.backend(),
                size.customers,
                percentile_ms(&latencies, 0.50),
                percentile_ms(&latencies, 0.95),
                percentile_ms(&latencies, 1.0)
            );
        }
    }
    server.abort();
    Ok(())
}

/// The p-th fraction of sorted latencies, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Claims of pool customers by many reps at once: every rep claims with its own token, the
/// pool's limits raised so that every claim is judged and most succeed.
async fn bench_claims(
    store: &Store,
    requests: usize,
    concurrency: usize,
    reps: usize,
) -> Result<()> {
    let organisation = synthetic_organisation(13, (reps / 20).max(2), reps, requests, 1);
    let customers: Vec<String> = organisation
        .customers
        .iter()
        .map(|customer| customer.id.to_string())
        .collect();
    let rep_ids: Vec<allot_core::RepId> = organisation
        .reps
        .iter()
        .filter(|rep| rep.active)
        .map(|rep| rep.id.clone())
        .collect();
    if rep_ids.is_empty() {
        bail!("--reps: the bench needs at least one active rep");
    }
    load_organisation(store, organisation, true).await?;
    let policy = allot_core::value::EXAMPLE_POLICY
        .replace("claim_limit_per_day = 20 ", "claim_limit_per_day = 100000 ")
        .replace("holding_cap = { A = 30, B = 80 }", "holding_cap = {}");
    store
        .set_value_policy(&policy, "bench", bench_clock())
        .await?;
    let mut tokens = Vec::with_capacity(rep_ids.len());
    for rep in &rep_ids {
        tokens.push(
            store
                .create_token("bench", Some(rep), bench_clock())
                .await?,
        );
    }
    let (server, origin, client) = serve_on_loopback(store, concurrency).await?;
    let base = format!("{origin}/api/v1/customers");
    let customers = Arc::new(customers);
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, base, customers, tokens, next) = (
            client.clone(),
            base.clone(),
            customers.clone(),
            tokens.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut answers: Vec<(Duration, bool)> = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(customer) = customers.get(index) else {
                    break;
                };
                let token = &tokens[index % tokens.len()];
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/{customer}/claim"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({}))
                    .send()
                    .await?;
                let status = response.status();
                let body = response.text().await?;
                // A claim the pool's rules refuse (409) is an answer too; anything else is not.
                if !status.is_success() && status != reqwest::StatusCode::CONFLICT {
                    bail!("claim of {customer} failed: {status} {body}");
                }
                answers.push((sent.elapsed(), status.is_success()));
            }
            Ok::<_, anyhow::Error>(answers)
        }));
    }
    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    server.abort();
    let claimed = answers.iter().filter(|(_, claimed)| *claimed).count();
    let mut latencies: Vec<Duration> = answers.into_iter().map(|(latency, _)| latency).collect();
    latencies.sort();
    println!(
        "claims ({:?}): {} requests by {} reps, concurrency {concurrency}, in {seconds:.2} s = {:.0} requests/s ({claimed} claimed, {} refused by the pool's rules); latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        store.backend(),
        latencies.len(),
        rep_ids.len(),
        latencies.len() as f64 / seconds,
        latencies.len() - claimed,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        percentile_ms(&latencies, 1.0)
    );
    Ok(())
}

/// One concurrent sender: posts the bodies not yet taken, body `i` to `addresses[i % len]`
/// (several servers take turns), and returns each request's latency.
pub(crate) async fn send_requests<Body: serde::Serialize>(
    client: reqwest::Client,
    addresses: Arc<Vec<String>>,
    token: String,
    bodies: Arc<Vec<Body>>,
    next: Arc<AtomicUsize>,
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= bodies.len() {
            break;
        }
        let sent = Instant::now();
        let response = client
            .post(&addresses[index % addresses.len()])
            .bearer_auth(&token)
            .json(&bodies[index])
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "request {index} failed: {} {}",
                response.status(),
                response.text().await?
            );
        }
        response.bytes().await?;
        latencies.push(sent.elapsed());
    }
    Ok(latencies)
}
