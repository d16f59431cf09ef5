//! What a new user runs into first, from the command line: the demo run twice, log colour on
//! a terminal and in a pipe, a tier the policy does not define in a file, value measures that
//! agree with each other.

use std::process::Command;

use allot_store::Backend;

mod support;

use support::{text, Workspace};

/// A second `allot demo` on the same database says so and changes nothing.
async fn the_demo_run_twice_changes_nothing(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    let arguments = ["demo", "--no-serve", "--customers", "200"];
    workspace.allot_ok(&arguments);
    let snapshot = || {
        [
            workspace.allot_ok(&["export", "customers"]),
            workspace.allot_ok(&["rules", "show"]),
            workspace.allot_ok(&["tier", "events", "--json"]),
            workspace.allot_ok(&["report", "value", "--json"]),
            workspace.allot_ok(&["alerts", "--all", "--json"]),
        ]
    };
    let before = snapshot();
    let again = workspace.allot_ok(&arguments);
    assert!(
        again.contains("already holds the demo organisation") && again.contains("afresh"),
        "{again}"
    );
    assert_eq!(snapshot(), before, "a second demo changed the database");
    // Nothing was added behind the reports either: still one rules version, the same events.
    let versions = workspace.allot_ok(&["rules", "show"]);
    assert!(versions.starts_with("# version 1 "), "{versions}");

    // A database holding other data is refused, not mixed with the demo.
    let other = Workspace::new(backend).await;
    let teams = other.file("teams.csv", "id,name,parent_id,manager_id\nhq,总部,,\n");
    other.allot_ok(&["import", "teams", text(&teams)]);
    let refused = other.allot(&arguments);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("not the demo's"), "{message}");
}

fn has_colour_codes(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|pair| pair == b"\x1b[")
}

/// Logs carry colour codes only when they go to a terminal, and never with NO_COLOR.
async fn logs_are_coloured_only_on_a_terminal(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    // To a pipe: plain text.
    let piped = workspace
        .command()
        .args(["export", "teams"])
        .env("ALLOT_LOG", "debug")
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(!piped.stderr.is_empty(), "debug logging wrote nothing");
    assert!(
        !has_colour_codes(&piped.stderr),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );

    // To a terminal (util-linux `script` gives the command one): colour, unless NO_COLOR.
    let on_a_terminal = |no_colour: Option<&str>| {
        let inner = workspace.command();
        let binary = inner.get_program().to_str().unwrap().to_string();
        let mut command = Command::new("script");
        command
            .args(["-qec", &format!("{binary} export teams"), "/dev/null"])
            .current_dir(workspace.directory.path())
            .env("ALLOT_DB", &workspace.database.url)
            .env("ALLOT_NOW", support::CLOCK)
            .env("ALLOT_LOG", "debug")
            .env("TERM", "xterm")
            .env_remove("NO_COLOR");
        if let Some(value) = no_colour {
            command.env("NO_COLOR", value);
        }
        let output = command.output().expect("run script (util-linux)");
        assert!(output.status.success(), "{output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("DEBUG"),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        has_colour_codes(&output.stdout)
    };
    assert!(on_a_terminal(None), "a terminal gets colour");
    assert!(!on_a_terminal(Some("1")), "NO_COLOR turns colour off");
}

/// A customers file naming a tier the policy does not define: the line, the column and the
/// tiers there are; nothing written with --strict.
async fn a_tier_the_policy_does_not_define_is_refused_in_a_file(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    let customers = workspace.file(
        "customers.csv",
        "id,name,tier\nc1,好客户,A\nc2,未知等级,Z\n",
    );
    let output = workspace.allot(&["import", "customers", text(&customers), "--strict"]);
    assert_eq!(output.status.code(), Some(2));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("line 3") && printed.contains("tier"),
        "{printed}"
    );
    assert!(
        printed.contains("'Z'") && printed.contains("A, B, C"),
        "the valid tiers are named: {printed}"
    );
    let exported = workspace.allot_ok(&["export", "customers"]);
    assert_eq!(
        exported.lines().count(),
        1,
        "strict wrote nothing: {exported}"
    );
}

/// The value measures agree on the demo's data: a customer RFM calls lost is neither in the
/// best tier nor at full health, a one-time buyer long gone is not fresh by health's recency,
/// health is unknown exactly when nothing about the customer is known, and "at risk" means
/// health under the alert threshold, counted alike wherever it is printed.
async fn value_measures_agree_on_the_demo_data(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    let demo = workspace.allot_ok(&["demo", "--no-serve", "--customers", "1500"]);
    let exported = workspace.allot_ok(&["export", "values"]);
    let mut reader = csv::Reader::from_reader(exported.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<std::collections::HashMap<String, String>> = reader
        .records()
        .map(|record| {
            headers
                .iter()
                .map(str::to_string)
                .zip(record.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 1500, "every demo customer is graded");
    let number = |row: &std::collections::HashMap<String, String>, column: &str| {
        let cell = &row[column];
        (!cell.is_empty()).then(|| cell.parse::<f64>().unwrap())
    };
    let mut lost = 0;
    let mut one_time_and_long_gone = 0;
    let mut below_threshold = 0;
    for row in &rows {
        let id = &row["customer_id"];
        let health = number(row, "health");
        if row["rfm_segment"] == "lost" {
            lost += 1;
            assert_ne!(row["tier"], "A", "{id}: lost but in the best tier");
            assert!(
                health.is_none_or(|health| health < 100.0),
                "{id}: lost but at full health"
            );
        }
        if row["frequency"] == "1" && row["recency_score"] == "1" {
            one_time_and_long_gone += 1;
            let recency = number(row, "health_recency").expect("a buyer has a recency part");
            assert!(recency < 1.0, "{id}: bought once, long ago, yet fresh");
        }
        // P(alive) counts only beside a repeat purchase, so with the recency part.
        let parts_known = ["health_recency", "health_interaction", "health_tickets"]
            .iter()
            .any(|part| !row[*part].is_empty());
        assert_eq!(
            health.is_some(),
            parts_known,
            "{id}: health is known exactly when one of its parts is"
        );
        let at_risk = row["at_risk"] == "true";
        assert_eq!(
            at_risk,
            health.is_some_and(|health| health < 40.0),
            "{id}: at_risk is health under the alert threshold"
        );
        below_threshold += usize::from(at_risk);
    }
    assert!(
        lost > 0 && one_time_and_long_gone > 0,
        "the demo data has both"
    );
    assert!(
        demo.contains(&format!(
            "health: {below_threshold} below the alert threshold"
        )),
        "the demo's summary counts the same customers: {demo}"
    );
    let report = workspace.allot_ok(&["report", "value", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["health_below_threshold"], below_threshold);
}

allot_store::test_on_both_backends! {
    the_demo_run_twice_changes_nothing => super::the_demo_run_twice_changes_nothing;
    logs_are_coloured_only_on_a_terminal => super::logs_are_coloured_only_on_a_terminal;
    a_tier_the_policy_does_not_define_is_refused_in_a_file => super::a_tier_the_policy_does_not_define_is_refused_in_a_file;
    value_measures_agree_on_the_demo_data => super::value_measures_agree_on_the_demo_data;
}
