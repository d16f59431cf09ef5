//! A database written by Allot 0.1 moves forward without loss: the dumps in
//! `fixtures/release-0.1` (made by its `make.sh` with that release) are loaded, opened with the
//! current binary, which migrates them, and what it exports is what 0.1 exported.

use std::path::PathBuf;
use std::process::Command;

use allot_store::testing::TestDatabase;
use allot_store::Backend;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "release-0.1",
        name,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn allot(database: &TestDatabase, arguments: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(arguments)
        .env("ALLOT_DB", &database.url)
        .env("ALLOT_NOW", "2026-11-26T09:00:00+08:00")
        .output()
        .expect("run allot");
    assert!(
        output.status.success(),
        "allot {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// Whether two documents are the same, numbers within a few units in the last place: 0.1 read
/// the stored value details with serde_json's fast float parser, which can be one unit off, so
/// it printed some stored values a unit away from what it had written; this release reads them
/// exactly.
fn same_document(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => match (left.as_f64(), right.as_f64()) {
            (Some(left), Some(right)) if left.is_finite() && right.is_finite() => {
                left == right
                    || (left - right).abs() <= 4.0 * f64::EPSILON * left.abs().max(right.abs())
            }
            _ => left == right,
        },
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(l, r)| same_document(l, r))
        }
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .all(|(key, l)| right.get(key).is_some_and(|r| same_document(l, r)))
        }
        _ => left == right,
    }
}

async fn a_database_of_release_0_1_migrates_without_loss(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let dump = match backend {
        Backend::Sqlite => fixture("sqlite.sql"),
        Backend::Postgres => fixture("postgres.sql"),
    };
    database.load_dump(&dump).await;
    for kind in ["teams", "reps", "customers"] {
        let exported = allot(&database, &["export", kind]);
        assert_eq!(
            exported,
            fixture(&format!("{kind}.csv")),
            "{kind} exported after the migration differ from what 0.1 exported"
        );
    }
    for (arguments, expected) in [
        (vec!["value", "c00003", "--json"], "value-c00003.json"),
        (vec!["explain", "c00001", "--json"], "explain-c00001.json"),
        (vec!["tier", "events", "--json"], "tier-events.json"),
        (vec!["alerts", "--all", "--json"], "alerts.json"),
    ] {
        let printed = json(&allot(&database, &arguments));
        let expected = json(&fixture(expected));
        assert!(
            same_document(&printed, &expected),
            "allot {arguments:?}:\n{printed:#}\nwhat 0.1 printed:\n{expected:#}"
        );
    }
    // The migrated database works on: its jobs know what ran.
    let tick = json(&allot(&database, &["tick", "--json"]));
    assert!(
        tick["already_done"]
            .as_array()
            .is_some_and(|done| !done.is_empty()),
        "the 0.1 job runs are kept: {tick}"
    );
    // Graded again, the migrated amounts give what 0.1 computed from its own: money came
    // across to the cent (c00001 bought 12.34 and had 0.50 refunded).
    let graded = json(&allot(&database, &["score", "--force", "--json"]));
    let expected = json(&fixture("score.json"));
    for key in [
        "customers",
        "with_purchases",
        "upgrades",
        "downgrades",
        "by_tier",
        "moves",
    ] {
        assert_eq!(graded[key], expected[key], "score: {key}");
    }
    let value = json(&allot(&database, &["value", "c00001", "--json"]));
    let expected = json(&fixture("value-c00001-graded.json"));
    for key in ["rfm", "score", "tier", "computed_tier", "abc", "dimensions"] {
        assert!(
            same_document(&value["value"][key], &expected["value"][key]),
            "value of c00001: {key}: {} against {}",
            value["value"][key],
            expected["value"][key]
        );
    }
    assert_eq!(value["value"]["rfm"]["monetary"], 42846.84);
}

allot_store::test_on_both_backends! {
    a_database_of_release_0_1_migrates_without_loss => super::a_database_of_release_0_1_migrates_without_loss;
}
