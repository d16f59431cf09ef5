//! `allot backup` and `allot restore`: an organisation with history on SQLite goes to
//! PostgreSQL and back to SQLite with identical exports; restores refuse a database with data
//! and a cut-off file (writing nothing); a restored PostgreSQL database takes new writes.

use allot_store::Backend;

mod support;

use support::{text, Workspace};

const TEAMS: &str = "id,name,parent_id,manager_id\nhq,总部,,m1\neast,华东大区,hq,m1\n";
const REPS: &str = "\
id,name,email,team_id,role,level,capacity,weight,skills,active,absent_from,absent_until
m1,王经理,m1@example.cn,hq,manager,senior,,1,,true,,
r1,张三,r1@example.cn,east,rep,senior,,1,金融|英语,true,,
r2,李四,r2@example.cn,east,rep,junior,,2.5,,true,2026-12-01,2026-12-03
";
const RULES: &str = r#"
[[rule]]
name = "all"
when = 'true'
to = { team = "east" }
strategy = "round_robin"
"#;

fn customers() -> String {
    let mut rows = String::from(
        "id,name,region,tier,workload,phone,email,created_at,attr.annual_revenue,attr.contact\n",
    );
    for number in 0..300 {
        rows.push_str(&format!(
            "c{number:03},客户{number},广东/深圳,{},{}.5,1380000{number:04},c{number}@example.cn,2026-01-05,{},联系人{number}\n",
            ["A", "B", "C"][number % 3],
            1 + number % 3,
            number * 1000
        ));
    }
    rows
}

fn transactions() -> String {
    let mut rows = String::from("id,customer_id,at,amount,product_line\n");
    for number in 0..300 {
        rows.push_str(&format!(
            "t{number:03},c{number:03},2026-0{}-1{},{}.25,云服务\n",
            1 + number % 9,
            number % 10,
            100 + number
        ));
    }
    rows
}

/// A history worth carrying: routing, grading, a claim after a release, a transfer, a ticket,
/// an erasure.
fn organisation(workspace: &Workspace) {
    for (kind, name, contents) in [
        ("teams", "teams.csv", TEAMS.to_string()),
        ("reps", "reps.csv", REPS.to_string()),
        ("customers", "customers.csv", customers()),
        ("transactions", "transactions.csv", transactions()),
    ] {
        let file = workspace.file(name, &contents);
        workspace.allot_ok(&["import", kind, text(&file)]);
    }
    let rules = workspace.file("rules.toml", RULES);
    workspace.allot_ok(&["rules", "set", text(&rules)]);
    workspace.allot_ok(&["route"]);
    workspace.allot_ok(&["score"]);
    workspace.allot_ok(&["release", "c001", "--reason", "客户要求换人"]);
    workspace.allot_ok(&["claim", "c001", "--rep", "r1"]);
    workspace.allot_ok(&["forget", "c002", "--reason", "书面要求"]);
    workspace.allot_ok(&["tick"]);
}

fn exports(workspace: &Workspace) -> Vec<(String, String)> {
    ["teams", "reps", "customers", "values", "events"]
        .iter()
        .map(|kind| (kind.to_string(), workspace.allot_ok(&["export", kind])))
        .collect()
}

#[tokio::test]
async fn sqlite_to_postgres_to_sqlite_keeps_every_export() {
    let sqlite = Workspace::new(Backend::Sqlite).await;
    organisation(&sqlite);
    let original = exports(&sqlite);
    assert!(
        original[4].1.lines().count() > 300,
        "events: {}",
        original[4].1
    );

    let first = sqlite.directory.path().join("first.backup");
    let said = sqlite.allot_ok(&["backup", text(&first)]);
    assert!(said.starts_with("backed up "), "{said}");

    let postgres = Workspace::new(Backend::Postgres).await;
    // A cut-off file loads nothing.
    let whole = std::fs::read_to_string(&first).unwrap();
    let cut = postgres.file("cut.backup", &whole[..whole.len() * 2 / 3]);
    let refused = postgres.allot(&["restore", text(&cut)]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("cut off") || said.contains("line "), "{said}");
    assert_eq!(
        postgres.allot_ok(&["export", "customers"]).lines().count(),
        1
    );

    postgres.allot_ok(&["restore", text(&first)]);
    assert_eq!(exports(&postgres), original, "SQLite → PostgreSQL");
    assert!(postgres
        .allot_ok(&["check"])
        .contains("every invariant holds"));
    // Restoring over data is refused.
    let again = postgres.allot(&["restore", text(&first)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));

    let second = postgres.directory.path().join("second.backup");
    postgres.allot_ok(&["backup", text(&second)]);
    let back = Workspace::new(Backend::Sqlite).await;
    back.allot_ok(&["restore", text(&second)]);
    assert_eq!(exports(&back), original, "PostgreSQL → SQLite");

    // New writes continue the restored ids on PostgreSQL: another release and claim append
    // events after the restored ones.
    postgres.allot_ok(&["release", "c004", "--reason", "调整"]);
    postgres.allot_ok(&["claim", "c004", "--rep", "r2"]);
    let events = postgres.allot_ok(&["export", "events"]);
    let ids: Vec<i64> = events
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), original[4].1.lines().count() - 1 + 2);
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    assert!(postgres
        .allot_ok(&["check"])
        .contains("every invariant holds"));
}
