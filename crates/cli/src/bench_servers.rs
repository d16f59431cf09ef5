//! `allot bench servers`: `POST /api/v1/route` spread over several `allot serve` processes on one database, with the servers' memory and the CPU time of servers and PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

use allot_core::demo::synthetic_organisation;
use allot_store::Store;

use crate::bench::{bench_clock, percentile_ms, send_requests, ServersLoad};

/// The name of the bench's one rule, by which a later run knows the database is the bench's.
const BENCH_RULE: &str = "bench round robin";

/// A server process of the bench, killed when dropped.
struct Server {
    child: Child,
    origin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident and peak resident memory of a process, in MiB (Linux).
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) of a process, and of every process named `postgres` (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let ticks_per_second = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are the 14th and 15th fields; here 11 and 12 after the name.
    (ticks(11) + ticks(12)) / ticks_per_second
}

fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|name| name.trim() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}

fn start_server(db: &str, token: &str) -> Result<Server> {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tick-every",
            "0",
            "--rate-limit",
            "0",
        ])
        .env("ALLOT_DB", db)
        .env("ALLOT_ADMIN_TOKEN", token)
        .env("ALLOT_NOW", "2026-11-25T09:00:00+08:00")
        .env("ALLOT_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting allot serve")?;
    let stdout = child.stdout.take().context("the server's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let origin = loop {
        let Some(line) = lines.next() else {
            bail!("allot serve ended before saying where it serves");
        };
        if let Some(rest) = line?.strip_prefix("serving ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    // Keep reading what it prints: a closed pipe would end it at its next line (SIGPIPE).
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server { child, origin })
}

pub async fn bench_servers(
    store: &Store,
    db: &str,
    load: &ServersLoad,
    reps: usize,
    customers: usize,
) -> Result<()> {
    let clock = bench_clock();
    let empty = store.list_reps().await?.is_empty();
    if !empty {
        // Only a database this bench set up is used again: never real data.
        let ours = store
            .current_rules()
            .await?
            .is_some_and(|rules| rules.source.contains(BENCH_RULE));
        if !ours {
            bail!("the bench needs an empty database, or one an earlier `bench servers` set up");
        }
    }
    if empty {
        let mut organisation = synthetic_organisation(17, (reps / 20).max(2), reps, customers, 1);
        // One round robin over the whole tree, so exactness is one number to check.
        organisation.rules_toml = format!(
            "[[rule]]\nname = \"{BENCH_RULE}\"\nwhen = 'true'\nto = {{ team = \"t000\" }}\nstrategy = \"round_robin\"\n"
        );
        let rules = organisation.rules_toml.clone();
        let started = Instant::now();
        crate::demo::import_organisation(store, organisation, "bench", clock, &|_| {}).await?;
        store.set_rules(&rules, "bench", clock).await?;
        println!(
            "set up {reps} reps and {customers} pool customers in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let token = allot_store::auth::generate_token();
    store.ensure_admin_token(Some(&token), clock).await?;
    let servers = (0..load.servers.max(1))
        .map(|_| start_server(db, &token))
        .collect::<Result<Vec<Server>>>()?;
    let origins: Arc<Vec<String>> = Arc::new(
        servers
            .iter()
            .map(|server| format!("{}/api/v1/route", server.origin))
            .collect(),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.concurrency)
        .build()?;
    let cpu_before: Vec<f64> = servers
        .iter()
        .map(|server| cpu_seconds(server.child.id()))
        .collect();
    let postgres_before = postgres_cpu_seconds();
    let bodies: Arc<Vec<serde_json::Value>> = Arc::new(
        (0..load.requests)
            .map(|index| {
                let id = format!("{}{index:07}", load.prefix);
                json!({"id": id, "name": format!("客户{id}"), "region": "广东/深圳"})
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..load.concurrency.max(1) {
        workers.push(tokio::spawn(send_requests(
            client.clone(),
            origins.clone(),
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
    let servers_cpu: f64 = servers
        .iter()
        .zip(&cpu_before)
        .map(|(server, before)| cpu_seconds(server.child.id()) - before)
        .sum();
    let postgres_cpu = postgres_cpu_seconds() - postgres_before;
    let memory: Vec<String> = servers
        .iter()
        .map(|server| {
            let (resident, peak) = memory_mib(server.child.id());
            format!("{resident:.0} MiB (peak {peak:.0})")
        })
        .collect();
    drop(servers);
    latencies.sort();
    println!(
        "servers {} ({:?}), concurrency {}: {} requests in {seconds:.2} s = {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms",
        load.servers.max(1),
        store.backend(),
        load.concurrency,
        latencies.len(),
        latencies.len() as f64 / seconds,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    println!(
        "cpu: servers {servers_cpu:.1} s, postgres {postgres_cpu:.1} s ({:.2} ms and {:.2} ms a request); memory per server: {}",
        servers_cpu * 1000.0 / latencies.len().max(1) as f64,
        postgres_cpu * 1000.0 / latencies.len().max(1) as f64,
        memory.join(", ")
    );
    let report = store.check_invariants().await?;
    let owned: Vec<u32> = store
        .list_reps()
        .await?
        .iter()
        .map(|rep| rep.load.owned_count)
        .filter(|count| *count > 0)
        .collect();
    let (fewest, most) = (
        owned.iter().min().copied().unwrap_or(0),
        owned.iter().max().copied().unwrap_or(0),
    );
    println!(
        "ownership: invariants {}; round robin over {} reps: {fewest}..{most} customers each ({})",
        if report.holds { "hold" } else { "BROKEN" },
        owned.len(),
        if most - fewest <= 1 {
            "exact"
        } else {
            "NOT exact"
        }
    );
    if !report.holds || most - fewest > 1 {
        bail!("the run broke an invariant or the rotation: {report:?}");
    }
    Ok(())
}
