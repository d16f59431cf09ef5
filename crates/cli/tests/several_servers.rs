//! Several `allot serve` processes on one PostgreSQL behind a client that spreads requests
//! over them: two and then four servers race routes, claims and transfers and ownership stays
//! unique (round robin exact); one server leads the scheduler and another takes over within
//! an interval when it is killed; rules and policy changed through one server are used by the
//! next request to another; a revoked token stops working everywhere within 10 seconds.

use std::time::{Duration, Instant};

use allot_store::Backend;
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::{text, Served, Workspace};

const ADMIN_TOKEN: &str = "several-servers-admin-token-0123456789";
const REPS: [&str; 4] = ["r1", "r2", "r3", "r4"];

/// A server ticking every second, without a rate limit.
fn serve(workspace: &Workspace) -> Served {
    workspace.serve(
        &["--tick-every", "1", "--rate-limit", "0"],
        &[("ALLOT_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

async fn call(
    client: &reqwest::Client,
    origin: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client
        .request(method, format!("{origin}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn leader_flags(client: &reqwest::Client, servers: &[&Served]) -> Vec<bool> {
    let mut flags = Vec::new();
    for server in servers {
        let metrics = client
            .get(format!("{}/metrics", server.origin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        flags.push(
            metrics
                .lines()
                .any(|line| line == "allot_scheduler_leader 1"),
        );
    }
    flags
}

/// Routes `count` new customers, each sent twice at once through two different servers, and
/// checks each has one owner and the rotation stayed exact.
async fn race_routes(
    client: &reqwest::Client,
    servers: &[&Served],
    prefix: &str,
    count: usize,
) -> Vec<Value> {
    let mut tasks = Vec::new();
    for number in 0..count {
        for copy in 0..2 {
            let origin = servers[(number + copy) % servers.len()].origin.clone();
            let client = client.clone();
            let id = format!("{prefix}{number:03}");
            tasks.push(tokio::spawn(async move {
                call(
                    &client,
                    &origin,
                    ADMIN_TOKEN,
                    reqwest::Method::POST,
                    "/api/v1/route",
                    Some(json!({"id": id, "name": format!("客户{id}"), "region": "广东/深圳"})),
                )
                .await
            }));
        }
    }
    let mut answers = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        answers.push(body);
    }
    // Both copies of a customer name the same owner; exactly one routed it.
    for pair in answers.chunks(2) {
        assert_eq!(
            pair[0]["decision"]["owner_id"], pair[1]["decision"]["owner_id"],
            "{pair:?}"
        );
        let routed = pair
            .iter()
            .filter(|answer| answer["routed_now"] == true)
            .count();
        assert_eq!(routed, 1, "{pair:?}");
    }
    answers
}

async fn owned_counts(client: &reqwest::Client, origin: &str) -> Vec<i64> {
    let (status, report) = call(
        client,
        origin,
        ADMIN_TOKEN,
        reqwest::Method::GET,
        "/api/v1/reports/workload",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    REPS.iter()
        .map(|rep| {
            report["reps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|row| row["rep_id"] == *rep)
                .map(|row| row["owned_count"].as_i64().unwrap())
                .unwrap_or(0)
        })
        .collect()
}

#[tokio::test]
async fn several_servers_on_one_postgres_keep_ownership_unique() {
    let workspace = Workspace::new(Backend::Postgres).await;
    let teams = workspace.file("teams.csv", "id,name,parent_id,manager_id\nhq,总部,,\n");
    let mut reps = String::from("id,name,email,team_id,role,level\n");
    for rep in REPS {
        reps.push_str(&format!("{rep},销售{rep},{rep}@example.cn,hq,rep,mid\n"));
    }
    let reps = workspace.file("reps.csv", &reps);
    workspace.allot_ok(&["import", "teams", text(&teams)]);
    workspace.allot_ok(&["import", "reps", text(&reps)]);
    let rules = workspace.file(
        "rules.toml",
        "[[rule]]\nname = \"all\"\nwhen = 'true'\nto = { team = \"hq\" }\nstrategy = \"round_robin\"\n",
    );
    workspace.allot_ok(&["rules", "set", text(&rules)]);
    let rep_tokens: Vec<String> = REPS
        .iter()
        .map(|rep| {
            workspace
                .allot_ok(&["token", "create", "--rep", rep, "--name", "race"])
                .trim()
                .to_string()
        })
        .collect();
    let client = reqwest::Client::new();

    // Two servers.
    let first = serve(&workspace);
    let second = serve(&workspace);
    race_routes(&client, &[&first, &second], "a", 100).await;
    assert_eq!(owned_counts(&client, &first.origin).await, vec![25; 4]);

    // Four.
    let third = serve(&workspace);
    let fourth = serve(&workspace);
    let all = [&first, &second, &third, &fourth];
    race_routes(&client, &all, "b", 200).await;
    assert_eq!(owned_counts(&client, &third.origin).await, vec![75; 4]);

    // Claims of one pool customer by every rep at once, each through its own server: one wins.
    let (status, body) = call(
        &client,
        &first.origin,
        ADMIN_TOKEN,
        reqwest::Method::POST,
        "/api/v1/customers/a000/release",
        Some(json!({"reason": "重新分配"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut claims = Vec::new();
    for (index, token) in rep_tokens.iter().enumerate() {
        let (client, origin, token) = (client.clone(), all[index].origin.clone(), token.clone());
        claims.push(tokio::spawn(async move {
            call(
                &client,
                &origin,
                &token,
                reqwest::Method::POST,
                "/api/v1/customers/a000/claim",
                Some(json!({})),
            )
            .await
        }));
    }
    let mut statuses = Vec::new();
    for claim in claims {
        let (status, body) = claim.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "{status}: {body}"
        );
        statuses.push(status);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == StatusCode::OK)
            .count(),
        1,
        "{statuses:?}"
    );

    // Two transfers of one customer requested at once through two servers: one opens.
    let (_, customer) = call(
        &client,
        &second.origin,
        ADMIN_TOKEN,
        reqwest::Method::GET,
        "/api/v1/customers/b000",
        None,
    )
    .await;
    let owner = customer["owner_id"].as_str().unwrap().to_string();
    let receiver = REPS.iter().find(|rep| **rep != owner).unwrap().to_string();
    let mut transfers = Vec::new();
    for server in [&third, &fourth] {
        let (client, origin) = (client.clone(), server.origin.clone());
        let body = json!({"customer_ids": ["b000"], "from": owner, "to": receiver, "reason_kind": "other", "text": "并发"});
        transfers.push(tokio::spawn(async move {
            call(
                &client,
                &origin,
                ADMIN_TOKEN,
                reqwest::Method::POST,
                "/api/v1/transfers",
                Some(body),
            )
            .await
        }));
    }
    let mut opened = 0;
    for transfer in transfers {
        let (status, body) = transfer.await.unwrap();
        match status {
            StatusCode::CREATED => opened += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "open_transfer", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(opened, 1);

    // One leader; killed, another takes over within a couple of intervals.
    let deadline = Instant::now() + Duration::from_secs(10);
    let leader = loop {
        let flags = leader_flags(&client, &all).await;
        if flags.iter().filter(|flag| **flag).count() == 1 {
            break flags.iter().position(|flag| *flag).unwrap();
        }
        assert!(Instant::now() < deadline, "no single leader: {flags:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut servers = vec![first, second, third, fourth];
    let killed = servers.remove(leader);
    drop(killed);
    let survivors: Vec<&Served> = servers.iter().collect();
    let killed_at = Instant::now();
    loop {
        let flags = leader_flags(&client, &survivors).await;
        let leaders = flags.iter().filter(|flag| **flag).count();
        assert!(leaders <= 1, "two leaders: {flags:?}");
        if leaders == 1 {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(5),
            "no server took over the scheduler"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the scheduler was taken over after {:?}",
        killed_at.elapsed()
    );
    // Each job ran once for this period, whoever ran it: a tick now finds nothing to do.
    let ticked: Value = serde_json::from_str(&workspace.allot_ok(&["tick", "--json"])).unwrap();
    assert_eq!(ticked["ran"], json!([]), "{ticked}");

    // A rules change through one server is what the next route through another uses.
    let (status, body) = call(
        &client,
        &survivors[0].origin,
        ADMIN_TOKEN,
        reqwest::Method::PUT,
        "/api/v1/rules",
        Some(json!({"source": "[[rule]]\nname = \"only r4\"\nwhen = 'true'\nto = { reps = [\"r4\"] }\nstrategy = \"least_loaded\"\n"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, routed) = call(
        &client,
        &survivors[1].origin,
        ADMIN_TOKEN,
        reqwest::Method::POST,
        "/api/v1/route",
        Some(json!({"id": "after-rules", "name": "新规则客户", "region": "北京"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{routed}");
    assert_eq!(routed["decision"]["rule"], "only r4", "{routed}");
    assert_eq!(routed["decision"]["owner_id"], "r4", "{routed}");
    // So is a policy change.
    let (status, body) = call(
        &client,
        &survivors[1].origin,
        ADMIN_TOKEN,
        reqwest::Method::PUT,
        "/api/v1/policy",
        Some(json!({"source": "[pool]\nclaim_limit_per_day = 3\n"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, policy) = call(
        &client,
        &survivors[2].origin,
        ADMIN_TOKEN,
        reqwest::Method::GET,
        "/api/v1/policy",
        None,
    )
    .await;
    assert!(
        policy.to_string().contains("claim_limit_per_day = 3"),
        "{policy}"
    );

    // A token revoked (here from the command line) stops working on every server within 10 s.
    let token = workspace
        .allot_ok(&["token", "create", "--name", "short-lived"])
        .trim()
        .to_string();
    for server in &survivors {
        let (status, _) = call(
            &client,
            &server.origin,
            &token,
            reqwest::Method::GET,
            "/api/v1/teams",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let listed = workspace.allot_ok(&["token", "list"]);
    let id = listed
        .lines()
        .find(|line| line.contains("short-lived"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("{listed}"))
        .to_string();
    workspace.allot_ok(&["token", "revoke", &id]);
    let revoked_at = Instant::now();
    for server in &survivors {
        loop {
            let (status, _) = call(
                &client,
                &server.origin,
                &token,
                reqwest::Method::GET,
                "/api/v1/teams",
                None,
            )
            .await;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(11),
                "{} still takes a token revoked {:?} ago",
                server.origin,
                revoked_at.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let checked = workspace.allot_ok(&["check"]);
    assert!(checked.contains("every invariant holds"), "{checked}");
}
