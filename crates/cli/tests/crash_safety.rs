//! Crash safety on both backends: an import of 100,000 customers (`--strict`), `route`, `tick`,
//! a departure and `rebalance --apply` are each started again and again and killed with
//! SIGKILL after longer and longer delays until a run finishes by itself. After every kill the
//! store's invariants hold (`Store::check_invariants`, what `allot check` prints), the step is
//! all there or not there at all where it is one transaction, and the scheduled jobs, rerun,
//! do nothing twice.

use std::process::Stdio;
use std::time::Duration;

use allot_core::RepId;
use allot_store::customers::CustomerFilter;
use allot_store::{Backend, Store};

mod support;

use support::{text, Workspace};

const CUSTOMERS: usize = 100_000;
/// Every tenth customer comes with an owner (r3), so the import writes events too.
const OWNED_ON_IMPORT: usize = CUSTOMERS / 10;

const RULES: &str = r#"
[[rule]]
name = "all"
when = 'true'
to = { team = "hq" }
strategy = "round_robin"
"#;

fn organisation(workspace: &Workspace) -> std::path::PathBuf {
    let teams = workspace.file("teams.csv", "id,name,parent_id,manager_id\nhq,总部,,\n");
    let reps = workspace.file(
        "reps.csv",
        "id,name,email,team_id,role,level\n\
         r1,张三,r1@example.cn,hq,rep,mid\n\
         r2,李四,r2@example.cn,hq,rep,mid\n\
         r3,王五,r3@example.cn,hq,rep,mid\n",
    );
    workspace.allot_ok(&["import", "teams", text(&teams)]);
    workspace.allot_ok(&["import", "reps", text(&reps)]);
    let rules = workspace.file("rules.toml", RULES);
    workspace.allot_ok(&["rules", "set", text(&rules)]);
    let mut customers = String::from("id,name,region,tier,owner_id\n");
    for number in 0..CUSTOMERS {
        let owner = if number % 10 == 0 { "r3" } else { "" };
        customers.push_str(&format!("c{number:06},客户{number},广东/深圳,B,{owner}\n"));
    }
    workspace.file("customers.csv", &customers)
}

/// How a run ended: by itself, or killed.
enum Run {
    Finished,
    Killed,
}

/// Starts `allot arguments`, and kills it with SIGKILL after `delay` unless it finished first.
fn run_or_kill(workspace: &Workspace, arguments: &[&str], delay: Duration) -> Run {
    let mut child = workspace
        .command()
        .args(arguments)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start allot");
    let deadline = std::time::Instant::now() + delay;
    while std::time::Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            let output = child.wait_with_output().expect("output");
            assert!(
                output.status.success(),
                "allot {arguments:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return Run::Finished;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    Run::Killed
}

/// Kills `arguments` after 30 ms, then 1.5 times longer each time, checking the store with
/// `after_kill` each time, until a run finishes or `after_kill` finds the step complete (killed
/// after its commit, before the process ended); returns the number of kills.
async fn kill_until_finished<F, Check>(
    workspace: &Workspace,
    store: &Store,
    arguments: &[&str],
    mut after_kill: F,
) -> usize
where
    F: FnMut(Store) -> Check,
    Check: std::future::Future<Output = bool>,
{
    let mut delay = Duration::from_millis(30);
    let mut kills = 0;
    loop {
        assert!(kills < 30, "allot {arguments:?} never finished");
        match run_or_kill(workspace, arguments, delay) {
            Run::Finished => {
                invariants_hold(store, arguments).await;
                return kills;
            }
            Run::Killed => {
                kills += 1;
                invariants_hold(store, arguments).await;
                if after_kill(store.clone()).await {
                    return kills;
                }
            }
        }
        delay = delay.mul_f64(1.5);
    }
}

async fn invariants_hold(store: &Store, arguments: &[&str]) {
    let report = store.check_invariants().await.expect("check");
    assert!(report.holds, "after allot {arguments:?}: {report:#?}");
}

async fn customer_count(store: &Store, filter: CustomerFilter) -> i64 {
    store
        .list_customers(&CustomerFilter { limit: 1, ..filter })
        .await
        .expect("count")
        .total
}

async fn owned_by(store: &Store, rep: &str) -> i64 {
    customer_count(
        store,
        CustomerFilter {
            owner_id: Some(RepId::parse(rep).unwrap()),
            ..Default::default()
        },
    )
    .await
}

async fn every_step_survives_sigkill(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    let customers = organisation(&workspace);
    let store = Store::connect(&workspace.database.url).await.unwrap();

    // The import is one transaction with --strict: all the file or none of it.
    let import_kills = kill_until_finished(
        &workspace,
        &store,
        &["import", "customers", text(&customers), "--strict"],
        async |store| {
            let count = customer_count(&store, CustomerFilter::default()).await;
            assert!(
                count == 0 || count == CUSTOMERS as i64,
                "a half-imported file: {count} customers"
            );
            count > 0
        },
    )
    .await;
    assert_eq!(
        customer_count(&store, CustomerFilter::default()).await,
        CUSTOMERS as i64
    );
    assert_eq!(owned_by(&store, "r3").await, OWNED_ON_IMPORT as i64);

    // Routing the pool is one transaction: all of it placed or none.
    let pool = (CUSTOMERS - OWNED_ON_IMPORT) as i64;
    let route_kills = kill_until_finished(&workspace, &store, &["route"], async |store| {
        let in_pool = store.pool_size().await.unwrap();
        assert!(
            in_pool == pool || in_pool == 0,
            "half routed: {in_pool} left"
        );
        in_pool == 0
    })
    .await;
    assert_eq!(store.pool_size().await.unwrap(), 0);

    // The scheduled jobs commit one by one: a kill may leave some done, and the rerun does the
    // rest; once one finishes, another finds nothing left to do.
    let tick_kills = kill_until_finished(&workspace, &store, &["tick"], async |_store| false).await;
    let again = workspace.allot_ok(&["tick", "--json"]);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        again["ran"],
        serde_json::json!([]),
        "a job ran twice: {again}"
    );

    // A departure: r1 keeps all its customers and stays active, or r2 has them all.
    let r1_before = owned_by(&store, "r1").await;
    let r2_before = owned_by(&store, "r2").await;
    assert!(r1_before > 0);
    let departure_kills = kill_until_finished(
        &workspace,
        &store,
        &["reps", "deactivate", "r1", "--successor", "r2"],
        async |store| {
            let (r1, r2) = (owned_by(&store, "r1").await, owned_by(&store, "r2").await);
            assert!(
                (r1, r2) == (r1_before, r2_before) || (r1, r2) == (0, r1_before + r2_before),
                "half a departure: r1 {r1}, r2 {r2}"
            );
            r1 == 0
        },
    )
    .await;
    assert_eq!(owned_by(&store, "r1").await, 0);

    // A new rep with an empty book; rebalancing moves customers to it at once, one event per
    // move. A rerun after a kill plans again from what is there.
    let newcomer = workspace.file(
        "newcomer.csv",
        "id,name,email,team_id,role,level\nr4,赵六,r4@example.cn,hq,rep,mid\n",
    );
    workspace.allot_ok(&["import", "reps", text(&newcomer)]);
    let r2_before = owned_by(&store, "r2").await;
    let rebalance_kills = kill_until_finished(
        &workspace,
        &store,
        &["rebalance", "--apply", "--no-approval"],
        async |_store| false,
    )
    .await;
    let (r2, r4) = (owned_by(&store, "r2").await, owned_by(&store, "r4").await);
    assert!(r4 > 0 && r2 < r2_before, "r2 {r2_before} → {r2}, r4 {r4}");
    let checked = workspace.allot_ok(&["check"]);
    assert!(checked.contains("every invariant holds"), "{checked}");

    let kills = [
        ("import", import_kills),
        ("route", route_kills),
        ("tick", tick_kills),
        ("departure", departure_kills),
        ("rebalance", rebalance_kills),
    ];
    eprintln!("{backend:?}: kills per step {kills:?}");
    // Each step ran long enough to be killed part-way at least once.
    for (step, count) in kills {
        assert!(count >= 1, "{step} finished before the first kill");
    }
}

allot_store::test_on_both_backends! {
    every_step_survives_sigkill => super::every_step_survives_sigkill;
}
