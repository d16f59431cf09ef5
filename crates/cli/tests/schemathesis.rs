//! Hostile input over the whole API: schemathesis generates requests from `/api/openapi.json`
//! (documented examples, boundary values, then fuzzing) against a real `allot serve` on each
//! backend, first with a rep's token and then with an admin's, and fails on any 5xx, any
//! status the document does not give for the route, and any body that does not match its
//! schema or content type.
//!
//! Needs schemathesis: `.ci/run` installs it in `target/ui-tools/st-venv` (or set
//! `SCHEMATHESIS` to its executable):
//! `python3 -m venv target/ui-tools/st-venv && target/ui-tools/st-venv/bin/pip install schemathesis==4.32.5`.

use std::path::PathBuf;
use std::process::Command;

use allot_store::Backend;

mod support;

use support::{Served, Workspace};

const ADMIN_TOKEN: &str = "schemathesis-admin-token-0123456789";

/// Examples per operation and phase: enough to reach every documented answer of a route, few
/// enough for the whole API in well under a minute per token.
const EXAMPLES: &str = "20";

fn schemathesis() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            [
                env!("CARGO_MANIFEST_DIR"),
                "..",
                "..",
                "target",
                "ui-tools",
                "st-venv",
                "bin",
                "schemathesis",
            ]
            .iter()
            .collect()
        });
    assert!(
        path.exists(),
        "schemathesis is not at {}: python3 -m venv target/ui-tools/st-venv && \
         target/ui-tools/st-venv/bin/pip install schemathesis==4.32.5 (as .ci/run does), \
         or set SCHEMATHESIS",
        path.display()
    );
    path
}

/// `allot serve` without a rate limit (the fuzzer is one fast client) or scheduled jobs.
fn serve(workspace: &Workspace) -> Served {
    workspace.serve(
        &["--tick-every", "0", "--rate-limit", "0"],
        &[("ALLOT_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

fn fuzz(workspace: &Workspace, server: &Served, token: &str, who: &str) {
    let output = Command::new(schemathesis())
        .current_dir(workspace.directory.path())
        .args([
            "run",
            &format!("{}/api/openapi.json", server.origin),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "20261205",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--generation-database",
            ":memory:",
            "--no-color",
        ])
        .output()
        .expect("run schemathesis");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis as {who} found problems:\n{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("Tested:"), "{said}");
}

async fn the_api_survives_generated_requests_as_a_rep_and_as_an_admin(backend: Backend) {
    let workspace = Workspace::new(backend).await;
    workspace.allot_ok(&["demo", "--no-serve", "--customers", "200"]);
    let created = workspace.allot_ok(&["token", "create", "--rep", "r04", "--name", "fuzz"]);
    let rep_token = created
        .split_whitespace()
        .find(|word| word.len() >= 30)
        .unwrap_or_else(|| panic!("no token in: {created}"))
        .to_string();
    let server = serve(&workspace);
    // The rep first: the admin's requests change the organisation (reps deactivated, rules
    // replaced), after which a rep's token may no longer be valid.
    fuzz(&workspace, &server, &rep_token, "a rep");
    fuzz(&workspace, &server, ADMIN_TOKEN, "an admin");
    // Whatever was thrown at it, the store's invariants hold.
    drop(server);
    let checked = workspace.allot_ok(&["check"]);
    assert!(checked.contains("every invariant holds"), "{checked}");
}

allot_store::test_on_both_backends! {
    the_api_survives_generated_requests_as_a_rep_and_as_an_admin => super::the_api_survives_generated_requests_as_a_rep_and_as_an_admin;
}
