//! A departure killed with SIGKILL part-way leaves all of it or none of it: `allot reps
//! deactivate` is started again and again and killed after longer and longer delays until
//! one run finishes by itself; after every kill the database holds either the state before
//! (the rep active with every customer, its token alive, no new event) or the state after.

use std::time::{Duration, Instant};

use allot_core::RepId;
use allot_store::customers::CustomerFilter;
use allot_store::events::EventFilter;
use allot_store::{Backend, Store};

mod support;

use support::{text, Workspace, CLOCK};

/// Enough customers that the departure's transaction takes a good part of a second.
const CUSTOMERS: i64 = 20_000;

fn rep(id: &str) -> RepId {
    RepId::parse(id).unwrap()
}

fn organisation(workspace: &Workspace) {
    let teams = workspace.file("teams.csv", "id,name,parent_id,manager_id\nhq,总部,,\n");
    let reps = workspace.file(
        "reps.csv",
        "id,name,email,team_id,role,level\n\
         leaver,张三,leaver@example.cn,hq,rep,mid\n\
         successor,李四,successor@example.cn,hq,rep,mid\n",
    );
    let mut customers = String::from("id,name,region,tier,owner_id\n");
    for number in 1..=CUSTOMERS {
        customers.push_str(&format!("c{number:05},客户{number},广东/深圳,B,leaver\n"));
    }
    let customers = workspace.file("customers.csv", &customers);
    workspace.allot_ok(&["import", "teams", text(&teams)]);
    workspace.allot_ok(&["import", "reps", text(&reps)]);
    workspace.allot_ok(&["import", "customers", text(&customers), "--strict"]);
}

/// Which side of the departure the database is on; panics when it is on neither.
#[derive(Debug, PartialEq)]
enum Side {
    Before,
    After,
}

async fn owned_by(store: &Store, id: &str) -> i64 {
    store
        .list_customers(&CustomerFilter {
            owner_id: Some(rep(id)),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .total
}

/// How many events come after event `first`, and the last one's id.
async fn events_after(store: &Store, first: i64) -> (usize, i64) {
    let mut count = 0;
    let mut after_id = first;
    loop {
        let page = store
            .list_events(&EventFilter {
                after_id: Some(after_id),
                limit: 5_000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return (count, after_id);
        };
        after_id = last.id;
        count += page.len();
    }
}

/// The side the departure is on, once the database has settled: on PostgreSQL a client killed
/// just after sending its commit leaves the server committing for a moment, and the side is
/// read in several statements, so a read during that moment can see part of each. A state that
/// stays half for five seconds is a half departure.
async fn side(store: &Store, token: &str, events_before: i64) -> Side {
    let mut last = None;
    for _ in 0..100 {
        match read_side(store, token, events_before).await {
            Ok(side) => return side,
            Err(stored) => last = Some(stored),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "half a departure: (active, owned by leaver, by successor, stored loads, token alive, \
         new events) = {last:?}"
    );
}

type Stored = (bool, i64, i64, i64, i64, bool, usize);

async fn read_side(store: &Store, token: &str, events_before: i64) -> Result<Side, Stored> {
    let reps = store.list_reps().await.unwrap();
    let leaver = reps
        .iter()
        .find(|state| state.rep.id == rep("leaver"))
        .unwrap();
    let successor = reps
        .iter()
        .find(|state| state.rep.id == rep("successor"))
        .unwrap();
    let stored = (
        leaver.rep.active,
        owned_by(store, "leaver").await,
        owned_by(store, "successor").await,
        i64::from(leaver.load.owned_count),
        i64::from(successor.load.owned_count),
        store.verify_token(token).await.unwrap().is_some(),
        events_after(store, events_before).await.0,
    );
    let count = CUSTOMERS as usize;
    if stored == (true, CUSTOMERS, 0, CUSTOMERS, 0, true, 0) {
        Ok(Side::Before)
    } else if stored == (false, 0, CUSTOMERS, 0, CUSTOMERS, false, count) {
        Ok(Side::After)
    } else {
        Err(stored)
    }
}

async fn a_departure_killed_part_way_leaves_all_or_none_of_it(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    organisation(&workspace);
    let store = Store::connect(&workspace.database.url).await.unwrap();
    let clock = allot_core::Clock::parse(CLOCK).unwrap();
    let token = store
        .create_token("phone", Some(&rep("leaver")), clock)
        .await
        .unwrap();
    let (_, events_before) = events_after(&store, 0).await;
    assert_eq!(side(&store, &token, events_before).await, Side::Before);

    let mut delay = Duration::from_millis(40);
    let mut kills = Vec::new();
    let finished = loop {
        assert!(kills.len() < 25, "never finished; killed after {kills:?}");
        let started = Instant::now();
        let mut child = workspace
            .command()
            .args(["reps", "deactivate", "leaver", "--successor", "successor"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if let Some(status) = child.try_wait().unwrap() {
            let mut said = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
            }
            assert!(
                status.success(),
                "the departure failed: {status} after kills at {kills:?}: {said}"
            );
            break started.elapsed();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills.push(delay);
        if side(&store, &token, events_before).await == Side::After {
            // Killed after the commit, before the process ended: the whole departure is in.
            break started.elapsed();
        }
        delay = delay.mul_f64(1.4);
    };
    eprintln!("{backend:?}: killed after {kills:?}; the last run took {finished:?}");
    assert!(
        kills.len() >= 3,
        "the departure finished too soon to be killed part-way: {kills:?}"
    );
    assert_eq!(side(&store, &token, events_before).await, Side::After);
}

allot_store::test_on_both_backends! {
    a_departure_killed_part_way_leaves_all_or_none_of_it => super::a_departure_killed_part_way_leaves_all_or_none_of_it;
}
