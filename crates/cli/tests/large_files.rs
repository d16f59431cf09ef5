//! A customers file longer than one chunk: its rows are read and parsed on a thread of their
//! own while earlier chunks are checked and written, and the outcome is that of a short file:
//! every problem on its line, parents named across chunks, nothing written by --strict.

use allot_store::Backend;

mod support;

use support::{text, Workspace};

const ROWS: usize = 12_500;

/// Row `number` (1-based) of the file; some rows carry what the test looks for.
fn customer_row(number: usize) -> String {
    let id = format!("c{number:05}");
    let (mut tier, mut parent, mut owner) = ("B", String::new(), String::new());
    match number {
        // Names a parent that comes two chunks later.
        3 => parent = "c12000".to_string(),
        // The first row of the second chunk has a tier the policy does not define.
        5_000 => tier = "Z",
        // Names the row above as its parent: rejected with it.
        9_000 => parent = "c05000".to_string(),
        7_000 => owner = "r1".to_string(),
        _ => {}
    }
    // The third chunk repeats an id of the first.
    let id = if number == 10_002 {
        "c00007".to_string()
    } else {
        id
    };
    format!("{id},客户{number},广东/深圳,{tier},{parent},{owner}\n")
}

fn customers_file() -> String {
    let mut file = String::from("id,name,region,tier,parent_id,owner_id\n");
    for number in 1..=ROWS {
        file.push_str(&customer_row(number));
    }
    file
}

fn organisation(workspace: &Workspace) {
    let teams = workspace.file("teams.csv", "id,name,parent_id,manager_id\nhq,总部,,\n");
    let reps = workspace.file(
        "reps.csv",
        "id,name,email,team_id,role,level\nr1,张三,r1@example.cn,hq,rep,mid\n",
    );
    workspace.allot_ok(&["import", "teams", text(&teams)]);
    workspace.allot_ok(&["import", "reps", text(&reps)]);
}

async fn a_file_of_several_chunks_imports_as_a_short_one(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    organisation(&workspace);
    let file = workspace.file("customers.csv", &customers_file());

    // --strict: three bad rows, nothing written.
    let strict = workspace.allot(&["import", "customers", text(&file), "--strict"]);
    assert_eq!(strict.status.code(), Some(2));
    assert_eq!(
        workspace.allot_ok(&["export", "customers"]).lines().count(),
        1,
        "strict wrote nothing"
    );

    let output = workspace.allot(&["import", "customers", text(&file)]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("line "))
        .collect();
    assert_eq!(problems.len(), 3, "{stderr}");
    // Lines count the header: row n is on line n + 1.
    assert!(
        problems[0].starts_with("line 5001, column tier: 'Z' is not a tier"),
        "{stderr}"
    );
    assert!(
        problems
            .iter()
            .any(|line| line.starts_with("line 9001, column parent_id:")
                && line.contains("line 5001")),
        "{stderr}"
    );
    assert!(
        problems
            .iter()
            .any(|line| line.starts_with("line 10003, column id:") && line.contains("line 8")),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "{} inserted, 0 updated, 1 ownership change(s), 3 bad row(s)",
            ROWS - 3
        )),
        "{stdout}"
    );

    let exported = workspace.allot_ok(&["export", "customers"]);
    assert_eq!(exported.lines().count(), ROWS - 3 + 1);
    let row_of = |id: &str| {
        exported
            .lines()
            .find(|line| line.starts_with(&format!("{id},")))
            .unwrap_or_else(|| panic!("{id} exported"))
            .to_string()
    };
    assert!(
        row_of("c00003").contains(",c12000,"),
        "{}",
        row_of("c00003")
    );
    assert!(row_of("c07000").contains(",r1,"), "{}", row_of("c07000"));
    assert!(!exported.contains("c05000,") && !exported.contains("c09000,"));

    // Again, now over stored customers (looked up chunk by chunk): the same rows, updated.
    let again = workspace.allot(&["import", "customers", text(&file)]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains(&format!(
            "0 inserted, {} updated, 0 ownership change(s), 3 bad row(s)",
            ROWS - 3
        )),
        "{stdout}"
    );
    assert_eq!(workspace.allot_ok(&["export", "customers"]), exported);
}

allot_store::test_on_both_backends! {
    a_file_of_several_chunks_imports_as_a_short_one => super::a_file_of_several_chunks_imports_as_a_short_one;
}
