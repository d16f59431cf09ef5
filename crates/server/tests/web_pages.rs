//! The web UI's pages for each role through the real server: the customer 360 (and its 404
//! out of view), a transfer requested from it, approved and accepted from the inbox, the rules
//! editor's check (problems at their line) and save with a diff, the reps page and its edits
//! within a manager's subtree, a departure, and an import of an Excel workbook with a bad row.

use allot_store::Backend;
use reqwest::StatusCode;
use serde_json::json;

mod support;

use support::browser::{form_token, organisation_with_logins, signed_in, Browser, PASSWORD};
use support::{spawn_app, TestApp};

/// The shared organisation, and an interaction of r3 with CU-E1.
async fn organisation(app: &TestApp) {
    organisation_with_logins(app).await;
    let (status, answer) = app
        .post(
            "/api/v1/customers/CU-E1/interactions",
            json!({"rep_id": "r3", "at": "2026-11-02T10:00:00Z", "kind": "visit", "minutes": 45, "outcome": "报价"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn the_customer_page_shows_everything_in_view_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let mut rep = signed_in(&app.address, "r3", PASSWORD).await;
    let (status, _, page) = rep.get("/customers/CU-E1?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        "客户CU-E1",
        "<dt>phone</dt><dd>13800138000</dd>",
        "Ownership timeline",
        "1,288.50",
        "云服务",
        "visit",
        "报价",
        "No routing decision is stored for this customer.",
        r#"action="/customers/CU-E1/release""#,
        r#"action="/customers/CU-E1/transfer""#,
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    // A rep overrides no tier; a time is on the organisation's calendar (+08:00).
    assert!(!page.contains("tier-override"), "{page}");
    assert!(page.contains("2026-11-02 18:00"), "{page}");
    // Out of view is not found, like a customer that does not exist.
    for path in ["/customers/CU-H1", "/customers/CU-R", "/customers/NOBODY"] {
        let (status, _, page) = rep.get(path, "en").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {page}");
        assert!(!page.contains("客户CU-H1"), "{page}");
    }
    // The manager reads the routing decision as a trace, in Chinese.
    let mut manager = signed_in(&app.address, "r2", PASSWORD).await;
    let (status, _, page) = manager.get("/customers/CU-R?lang=zh-CN", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        "分配说明",
        "尝试的规则",
        "华东大客户",
        "匹配",
        "候选人",
        "<dt>电话</dt>",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert!(page.contains("tier-override"), "{page}");
    let csrf = form_token(&page);
    let (status, location, _) = manager
        .post(
            "/customers/CU-R/tier-override",
            &[
                ("csrf", &csrf),
                ("tier", "B"),
                ("reason", "战略客户调整"),
                ("expires_on", "2027-01-31"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/customers/CU-R"))
    );
    let (_, _, page) = manager.get("/customers/CU-R?lang=en", "en").await;
    assert!(
        page.contains("已人工指定为 B 级。"),
        "worded in the language chosen before: {page}"
    );
    let (_, value) = app.get("/api/v1/customers/CU-R/value").await;
    assert_eq!(value["tier_override"]["tier"], "B", "{value}");
    // A rep posting the form anyway is refused by its role.
    let csrf = form_token(&rep.get("/customers/CU-E1", "en").await.2);
    let (status, _, _) = rep
        .post(
            "/customers/CU-E1/tier-override",
            &[
                ("csrf", &csrf),
                ("tier", "A"),
                ("reason", "x"),
                ("expires_on", "2027-01-31"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The pool customer is claimed from its page.
    let (_, _, page) = rep.get("/customers/CU-P?lang=en", "en").await;
    let csrf = form_token(&page);
    let (status, location, _) = rep.post("/customers/CU-P/claim", &[("csrf", &csrf)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/customers/CU-P"))
    );
    let (_, customer) = app.get("/api/v1/customers/CU-P").await;
    assert_eq!(customer["owner_id"], "r3", "{customer}");
    // Only an admin is offered the erasure of personal data; a manager posting it is refused.
    let (_, _, page) = manager.get("/customers/CU-R?lang=en", "en").await;
    assert!(!page.contains("/forget"), "{page}");
    let csrf = form_token(&page);
    let (status, _, _) = manager
        .post(
            "/customers/CU-R/forget",
            &[("csrf", &csrf), ("reason", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut admin = signed_in(&app.address, "r1", PASSWORD).await;
    let (_, _, page) = admin.get("/customers/CU-E1?lang=en", "en").await;
    assert!(
        page.contains(r#"action="/customers/CU-E1/forget""#),
        "{page}"
    );
    assert!(page.contains("Erase personal data"), "{page}");
    let csrf = form_token(&page);
    let (status, location, _) = admin
        .post(
            "/customers/CU-E1/forget",
            &[("csrf", &csrf), ("reason", "客户书面要求删除")],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/customers/CU-E1"))
    );
    let (_, _, page) = admin.get("/customers/CU-E1?lang=en", "en").await;
    assert!(
        page.contains("Personal data erased; logged as event #"),
        "{page}"
    );
    assert!(
        !page.contains("13800138000") && page.contains("[erased]"),
        "{page}"
    );
}

async fn a_transfer_is_requested_approved_and_accepted_on_the_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let mut rep = signed_in(&app.address, "r3", PASSWORD).await;
    let (_, _, page) = rep.get("/customers/CU-E1?lang=en", "en").await;
    let csrf = form_token(&page);
    let (status, location, _) = rep
        .post(
            "/customers/CU-E1/transfer",
            &[
                ("csrf", &csrf),
                ("to", "r2"),
                ("reason_kind", "customer_request"),
                ("text", "客户要求换人"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/customers/CU-E1"))
    );
    let (_, _, page) = rep.get("/customers/CU-E1", "en").await;
    let (_, transfers) = app.get("/api/v1/transfers").await;
    let id = transfers[0]["id"].as_i64().unwrap();
    assert!(
        page.contains(&format!("Transfer #{id} requested.")),
        "{page}"
    );
    // The manager approves from its inbox, then, being the new owner, accepts.
    let mut manager = signed_in(&app.address, "r2", PASSWORD).await;
    let (status, _, page) = manager.get("/transfers?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Waiting for my approval (1)"), "{page}");
    assert!(
        page.contains(&format!(r#"href="/transfers/{id}""#)),
        "{page}"
    );
    let (status, _, page) = manager.get(&format!("/transfers/{id}"), "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(&format!(r#"formaction="/transfers/{id}/approve""#)),
        "{page}"
    );
    assert!(!page.contains("/accept"), "not yet to accept: {page}");
    let csrf = form_token(&page);
    let (status, _, answer) = manager
        .post(
            &format!("/transfers/{id}/approve"),
            &[("csrf", &csrf), ("comment", "同意")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{answer}");
    let (_, _, page) = manager.get(&format!("/transfers/{id}"), "en").await;
    assert!(
        page.contains(&format!("Transfer #{id} is now approved")),
        "{page}"
    );
    assert!(page.contains("Hand-over checklist"), "{page}");
    assert!(
        page.contains("报价"),
        "the checklist's last interaction: {page}"
    );
    let (status, _, _) = manager
        .post(
            &format!("/transfers/{id}/accept"),
            &[("csrf", &csrf), ("comment", "收到")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = manager.get(&format!("/transfers/{id}"), "en").await;
    assert!(
        page.contains(&format!("Transfer #{id} is now accepted")),
        "{page}"
    );
    let (_, customer) = app.get("/api/v1/customers/CU-E1").await;
    assert_eq!(customer["owner_id"], "r2", "{customer}");
    // A step the caller may not take is refused in words, and a transfer out of view is 404.
    let (_, _, page) = rep.get(&format!("/transfers/{id}"), "en").await;
    let csrf = form_token(&page);
    rep.post(&format!("/transfers/{id}/approve"), &[("csrf", &csrf)])
        .await;
    let (_, _, page) = rep.get(&format!("/transfers/{id}"), "en").await;
    assert!(
        page.contains(r#"<p class="error" role="status">"#),
        "{page}"
    );
    let (status, _, _) = rep.get("/transfers/999999", "en").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn rules_are_checked_at_their_line_saved_by_an_admin_and_compared(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let mut manager = signed_in(&app.address, "r2", PASSWORD).await;
    let (status, _, page) = manager.get("/rules?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("华东大客户") && page.contains("<textarea"),
        "{page}"
    );
    assert!(
        page.contains(r#"value="check""#) && !page.contains(r#"value="save""#),
        "{page}"
    );
    let csrf = form_token(&page);
    let broken = "[[rule]]\nname = \"x\"\nwhen = \"tier ==\"\nto = { team = \"east\" }\n";
    let (status, _, page) = manager
        .post(
            "/rules",
            &[("csrf", &csrf), ("step", "check"), ("source", broken)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains(r##"<a href="#L3">line 3"##), "{page}");
    assert!(page.contains(r#"<li id="L3" class="wrong">"#), "{page}");
    let (status, _, _) = manager
        .post(
            "/rules",
            &[("csrf", &csrf), ("step", "save"), ("source", broken)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a manager saves no rules");
    // A simulation of the rules as they are: nobody moves, the fairness table and chart are
    // drawn, the scope chosen stays chosen; a broken text shows its problems instead.
    let (_, current) = app.get("/api/v1/rules").await;
    let (status, _, page) = manager
        .post(
            "/rules",
            &[
                ("csrf", &csrf),
                ("step", "simulate"),
                ("scope", "owned"),
                ("source", current["source"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Simulation (nothing was written)"), "{page}");
    assert!(page.contains("No customer would change owner."), "{page}");
    assert!(page.contains("would change owner."), "{page}");
    assert!(
        page.contains(r#"<option value="owned" selected>"#),
        "{page}"
    );
    assert!(
        page.contains(
            r#"<svg class="chart" role="img" aria-label="Owned customers per team, after""#
        ),
        "{page}"
    );
    let (status, _, page) = manager
        .post(
            "/rules",
            &[("csrf", &csrf), ("step", "simulate"), ("source", broken)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(!page.contains("Simulation (nothing was written)"), "{page}");
    let (_, versions) = app.get("/api/v1/rules/versions").await;
    assert_eq!(versions.as_array().unwrap().len(), 1, "nothing stored");

    let mut admin = signed_in(&app.address, "r1", PASSWORD).await;
    let (_, current) = app.get("/api/v1/rules").await;
    let changed = current["source"]
        .as_str()
        .unwrap()
        .replace("round_robin", "least_loaded");
    let (_, _, page) = admin.get("/rules", "en").await;
    let csrf = form_token(&page);
    let (status, _, page) = admin
        .post(
            "/rules",
            &[("csrf", &csrf), ("step", "check"), ("source", &changed)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("The rules are valid"), "{page}");
    let (status, location, _) = admin
        .post(
            "/rules",
            &[
                ("csrf", &csrf),
                ("step", "save"),
                ("source", &changed.replace('\n', "\r\n")),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/rules"))
    );
    let (_, _, page) = admin.get("/rules?lang=en", "en").await;
    assert!(page.contains("Saved as version 2."), "{page}");
    let (_, current) = app.get("/api/v1/rules").await;
    assert_eq!(current["source"].as_str().unwrap(), changed, "CRLF made LF");
    let (_, _, page) = admin.get("/rules?from=1&to=2", "en").await;
    assert_eq!(page.matches(r#"<tr class="removed">"#).count(), 1, "{page}");
    assert_eq!(page.matches(r#"<tr class="added">"#).count(), 1, "{page}");
    assert!(
        page.contains("round_robin") && page.contains("least_loaded"),
        "{page}"
    );
}

async fn reps_are_edited_within_a_subtree_and_leave_with_a_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let mut manager = signed_in(&app.address, "r2", PASSWORD).await;
    // The dashboard: the pool's one customer has waited under a week.
    let (_, _, page) = manager.get("/?lang=en", "en").await;
    assert!(page.contains("<title>under 7 days: 1</title>"), "{page}");
    assert!(page.contains("<title>90 days or more: 0</title>"), "{page}");
    let (status, _, page) = manager.get("/reps?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"href="/reps/r3""#), "{page}");
    assert!(
        !page.contains(r#"href="/reps/r1""#),
        "hq is outside east: {page}"
    );
    let (status, _, _) = manager.get("/reps/r1", "en").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, page) = manager.get("/reps/r3", "en").await;
    assert!(
        page.contains(r#"id="capacity""#) && !page.contains(r#"id="role""#),
        "{page}"
    );
    assert!(
        !page.contains("/deactivate"),
        "a manager runs no departure: {page}"
    );
    let csrf = form_token(&page);
    let (status, location, _) = manager
        .post(
            "/reps/r3",
            &[
                ("csrf", &csrf),
                ("capacity", "5"),
                ("weight", "2"),
                ("skills", "英语, 医疗"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/reps/r3"))
    );
    let (_, rep) = app.get("/api/v1/reps/r3").await;
    assert_eq!(
        (rep["capacity"].clone(), rep["weight"].clone()),
        (json!(5), json!(2.0)),
        "{rep}"
    );
    assert_eq!(rep["skills"], json!(["英语", "医疗"]), "{rep}");
    // A role is an admin's to change, through the page or the API.
    manager
        .post("/reps/r3", &[("csrf", &csrf), ("role", "admin")])
        .await;
    let (_, _, page) = manager.get("/reps/r3", "en").await;
    assert!(
        page.contains("a manager does not change a rep&#x27;s role"),
        "{page}"
    );
    let (_, rep) = app.get("/api/v1/reps/r3").await;
    assert_eq!(rep["role"], "rep");

    // A team is an admin's to edit: its name and manager, a cycle refused.
    let (status, _, _) = manager.get("/teams/east", "en").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut admin = signed_in(&app.address, "r1", PASSWORD).await;
    let (status, _, page) = admin.get("/reps?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"<a href="/teams/east">east</a>"#), "{page}");
    let (_, _, page) = admin.get("/teams/east", "en").await;
    let csrf = form_token(&page);
    let (status, location, _) = admin
        .post(
            "/teams/east",
            &[
                ("csrf", &csrf),
                ("name", "华东一部"),
                ("parent_id", "hq"),
                ("manager_id", "r2"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/teams/east"))
    );
    let (_, team) = app.get("/api/v1/teams/east").await;
    assert_eq!(team["name"], "华东一部", "{team}");
    admin
        .post(
            "/teams/hq",
            &[
                ("csrf", &csrf),
                ("name", "总部"),
                ("parent_id", "east"),
                ("manager_id", ""),
            ],
        )
        .await;
    let (_, _, page) = admin.get("/teams/hq", "en").await;
    assert!(
        page.contains(r#"<p class="error" role="status">"#),
        "a cycle is refused: {page}"
    );
    let (_, team) = app.get("/api/v1/teams/hq").await;
    assert_eq!(team["parent_id"], json!(null), "{team}");

    let mut leaver = signed_in(&app.address, "r3", PASSWORD).await;
    let (_, _, page) = admin.get("/reps/r3?lang=en", "en").await;
    assert!(page.contains(r#"action="/reps/r3/deactivate""#), "{page}");
    let csrf = form_token(&page);
    let (status, _, _) = admin
        .post(
            "/reps/r3/deactivate",
            &[("csrf", &csrf), ("successor", "r2")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = admin.get("/reps/r3", "en").await;
    assert!(
        page.contains("r3 is deactivated: 1 customers handed over, 0 to the pool."),
        "{page}"
    );
    let (_, customer) = app.get("/api/v1/customers/CU-E1").await;
    assert_eq!(customer["owner_id"], "r2", "{customer}");
    // The departed rep's session is over.
    let (status, location, _) = leaver.get("/", "en").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login"))
    );
}

/// A multipart body of the import form with `file` as `name`.
fn import_form(csrf: &str, kind: &str, name: &str, file: &[u8], strict: bool) -> (String, Vec<u8>) {
    let boundary = "allot-test-boundary";
    let mut body = Vec::new();
    let mut field = |name: &str, value: &str| {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .bytes(),
        );
    };
    field("csrf", csrf);
    field("kind", kind);
    if strict {
        field("strict", "true");
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .bytes(),
    );
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    browser: &Browser,
    cookie: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/import", browser.base))
        .header("cookie", cookie)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn an_excel_workbook_is_imported_with_its_bad_row_shown(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let mut rep = signed_in(&app.address, "r3", PASSWORD).await;
    let (status, _, _) = rep.get("/import", "en").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "imports are an admin's");
    let mut admin = signed_in(&app.address, "r1", PASSWORD).await;
    let (status, _, page) = admin.get("/import?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = form_token(&page);
    let cookie = format!(
        "allot_session={}; allot_lang=en",
        admin.cookie("allot_session").unwrap()
    );
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (column, header) in ["客户编号", "客户名称", "地区", "电话", "创建时间"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 3, 1).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (row, (id, phone)) in [
        ("X-1", 13_800_138_001.0),
        ("X-2", 12.0),
        ("X-3", 13_900_139_000.0),
    ]
    .iter()
    .enumerate()
    {
        let row = row as u32 + 1;
        sheet.write_string(row, 0, *id).unwrap();
        sheet.write_string(row, 1, format!("表格客户{id}")).unwrap();
        sheet.write_string(row, 2, "北京/海淀").unwrap();
        sheet.write_number(row, 3, *phone).unwrap();
        sheet
            .write_datetime_with_format(row, 4, &date, &format)
            .unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    // Strict: the bad phone of sheet row 3 is shown, nothing is written.
    let (content_type, body) = import_form(&csrf, "customers", "客户.xlsx", &bytes, true);
    let (status, page) = upload(&admin, &cookie, &content_type, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains(r#"<tr class="wrong"><td class="number">3</td><td>phone</td>"#),
        "{page}"
    );
    assert!(page.contains("nothing was written"), "{page}");
    let (_, found) = app.get("/api/v1/customers?q=X-").await;
    assert_eq!(found["total"], 0, "{found}");
    // Not strict: the good rows are written, with the phone in full and the date as a date.
    let (content_type, body) = import_form(&csrf, "customers", "客户.xlsx", &bytes, false);
    let (status, page) = upload(&admin, &cookie, &content_type, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Written."), "{page}");
    let (_, customer) = app.get("/api/v1/customers/X-1").await;
    assert_eq!(customer["phone"], "13800138001", "{customer}");
    assert_eq!(
        customer["created_at"], "2026-03-01T00:00:00Z",
        "a date cell is a date, as in a CSV file: {customer}"
    );
    let (status, _) = app.get("/api/v1/customers/X-2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A CSV file imports through the same form.
    let csv = "id,name,region\nX-9,CSV客户,北京\n";
    let (content_type, body) = import_form(&csrf, "customers", "more.csv", csv.as_bytes(), false);
    let (status, page) = upload(&admin, &cookie, &content_type, body).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, _) = app.get("/api/v1/customers/X-9").await;
    assert_eq!(status, StatusCode::OK);
}

/// Every row of the page table, for each role: refused with 403 exactly where the table says
/// so (the pages' middleware), answered otherwise. Ids that do not exist keep the posts from
/// changing anything; the README prints the table.
async fn every_page_answers_each_role_as_the_page_table_says(backend: Backend) {
    use allot_server::access::{page_table_markdown, PAGE_ACCESS};
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(
        readme.contains(&page_table_markdown()),
        "README.md must print the page table as page_table_markdown() gives it:\n{}",
        page_table_markdown()
    );
    let app = spawn_app(backend).await;
    organisation(&app).await;
    for (rep, role) in [
        ("r1", allot_core::Role::Admin),
        ("r2", allot_core::Role::Manager),
        ("r3", allot_core::Role::Rep),
    ] {
        let mut browser = signed_in(&app.address, rep, PASSWORD).await;
        let csrf = form_token(&browser.get("/", "en").await.2);
        for row in PAGE_ACCESS {
            if row.path == "/logout" {
                continue;
            }
            let path = row
                .path
                .replace("/customers/{id}", "/customers/NOBODY")
                .replace("/transfers/{id}", "/transfers/999999")
                .replace("{action}", "approve")
                .replace("/reps/{id}", "/reps/nobody")
                .replace("/teams/{id}", "/teams/nowhere")
                .replace("/tickets/{id}", "/tickets/NOTICKET")
                .replace("{step}", "respond")
                .replace("/calendar/{id}", "/calendar/999999");
            let (status, _, page) = if row.method == "GET" {
                browser.get(&path, "en").await
            } else {
                browser
                    .post(&path, &[("csrf", &csrf), ("customer_id", "NOBODY")])
                    .await
            };
            let refused = status == StatusCode::FORBIDDEN;
            assert_eq!(
                refused,
                !row.allowed.permits(role),
                "{rep} {} {path}: {status} {page}",
                row.method
            );
            assert!(
                !status.is_server_error(),
                "{rep} {} {path}: {page}",
                row.method
            );
        }
    }
}

/// The service desk: a rep finds its customer's ticket with its due time, answers, resolves
/// and rates it on the ticket's page; another rep's ticket is not found; a manager sees both.
async fn a_ticket_is_answered_resolved_and_rated_on_its_page(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let (status, answer) = app
        .put(
            "/api/v1/policy",
            json!({"source": allot_core::demo::DEMO_POLICY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    for customer in ["CU-E1", "CU-H1"] {
        let (status, answer) = app
            .put(
                &format!("/api/v1/customers/{customer}"),
                json!({"tier": "A"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    for (ticket, customer) in [("K-E1", "CU-E1"), ("K-H1", "CU-H1")] {
        let (status, answer) = app
            .post("/api/v1/tickets", json!({"id": ticket, "customer_id": customer, "opened_at": "2026-11-24T17:00:00+08:00", "severity": "major", "kind": "complaint", "subject": "交付延期"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let mut rep = signed_in(&app.address, "r3", PASSWORD).await;
    let (status, _, page) = rep.get("/tickets?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        r#"href="/tickets/K-E1""#,
        "First response due",
        "2026-11-25 10:00",
        "Complaint",
        "On time",
        "1 tickets",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert!(!page.contains("K-H1"), "another rep's ticket: {page}");
    let (status, _, page) = rep.get("/tickets/K-H1", "en").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    let (status, _, page) = rep.get("/tickets/K-E1", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"action="/tickets/K-E1/respond""#), "{page}");
    assert!(
        !page.contains("/tickets/K-E1/rating"),
        "not rated while open: {page}"
    );
    let csrf = form_token(&page);
    for step in ["respond", "resolve"] {
        let (status, location, _) = rep
            .post(&format!("/tickets/K-E1/{step}"), &[("csrf", &csrf)])
            .await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/tickets/K-E1")),
            "{step}"
        );
    }
    let (_, _, page) = rep.get("/tickets/K-E1", "en").await;
    assert!(page.contains("Ticket K-E1 updated."), "{page}");
    assert!(page.contains("first response"), "{page}");
    let (status, _, _) = rep
        .post("/tickets/K-E1/rating", &[("csrf", &csrf), ("rating", "4")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = rep.get("/tickets/K-E1", "en").await;
    assert!(page.contains("4/5"), "{page}");
    // A second resolution is refused in words (the language the form was sent in).
    let (_, _, _) = rep.post("/tickets/K-E1/resolve", &[("csrf", &csrf)]).await;
    let (_, _, page) = rep.get("/tickets/K-E1", "en").await;
    assert!(page.contains("the ticket is resolved already"), "{page}");
    // The API agrees with what the page did.
    let (_, ticket) = app.get("/api/v1/tickets/K-E1").await;
    assert_eq!(ticket["rating"], 4, "{ticket}");
    assert_eq!(ticket["history"][1]["actor"], "rep:r3", "{ticket}");
    // The manager of east sees its rep's ticket, not the admin's own customer's.
    let mut manager = signed_in(&app.address, "r2", PASSWORD).await;
    let (_, _, page) = manager.get("/tickets?state=all&lang=en", "en").await;
    assert!(page.contains("K-E1") && !page.contains("K-H1"), "{page}");
}

/// The care calendar page: a rep sees its customer's follow-up planned by the tick, completes
/// it with a visit, and the interaction is on the customer; another rep's task is not shown.
async fn a_care_task_is_completed_from_the_calendar(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let (status, answer) = app
        .put(
            "/api/v1/policy",
            json!({"source": allot_core::demo::DEMO_POLICY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Overrides keep both at A whatever the tick's first re-grade computes.
    for customer in ["CU-E1", "CU-H1"] {
        let (status, answer) = app
            .put(
                &format!("/api/v1/customers/{customer}/tier-override"),
                json!({"tier": "A", "reason": "重点", "expires_on": "2027-12-31"}),
            )
            .await;
        assert!(status.is_success(), "{answer}");
    }
    let (status, ticked) = app.call(reqwest::Method::POST, "/api/v1/tick", None).await;
    assert_eq!(status, StatusCode::OK, "{ticked}");
    let mut rep = signed_in(&app.address, "r3", PASSWORD).await;
    let (status, _, page) = rep.get("/calendar?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Follow-up (tier cadence)") && page.contains(r#"href="/customers/CU-E1""#),
        "{page}"
    );
    assert!(!page.contains("CU-H1"), "another rep's task: {page}");
    assert!(page.contains("/api/v1/reps/r3/calendar.ics"), "{page}");
    let (_, tasks) = app.get("/api/v1/calendar?customer_id=CU-E1").await;
    let id = tasks[0]["id"].as_i64().unwrap();
    let csrf = form_token(&page);
    let (status, location, _) = rep
        .post(
            &format!("/calendar/{id}/complete"),
            &[
                ("csrf", &csrf),
                ("kind", "visit"),
                ("minutes", "40"),
                ("outcome", "续约意向"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/calendar"))
    );
    let (_, _, page) = rep.get("/calendar", "en").await;
    assert!(
        page.contains(&format!("Task {id} for CU-E1 is done")),
        "{page}"
    );
    let (_, activity) = app.get("/api/v1/customers/CU-E1/activity").await;
    assert_eq!(
        activity["interactions"][0]["outcome"], "续约意向",
        "{activity}"
    );
    // Another rep's task answers as not found.
    let (_, others) = app.get("/api/v1/calendar?customer_id=CU-H1").await;
    let other = others[0]["id"].as_i64().unwrap();
    rep.post(
        &format!("/calendar/{other}/complete"),
        &[("csrf", &csrf), ("kind", "visit")],
    )
    .await;
    let (_, still) = app.get("/api/v1/calendar?customer_id=CU-H1").await;
    assert_eq!(still[0]["state"], "open", "{still}");
}

/// The service fairness page: a manager sees the reports over its subtree, with a customer
/// failing a baseline check named and linked; a rep may not open it.
async fn the_service_page_shows_the_reports_of_a_subtree(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let (status, answer) = app
        .put(
            "/api/v1/policy",
            json!({"source": allot_core::demo::DEMO_POLICY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = app
        .post("/api/v1/tickets", json!({"id": "KQ", "customer_id": "CU-E1", "opened_at": "2026-11-20", "kind": "complaint", "subject": "投诉"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let mut manager = signed_in(&app.address, "r2", PASSWORD).await;
    let (status, _, page) = manager.get("/service?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        "Service fairness",
        "Baseline services",
        "投诉必有回应",
        r#"href="/customers/CU-E1""#,
        "Value × service quadrant",
        "<svg",
        "Under-served",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert!(!page.contains("CU-H1"), "outside the subtree: {page}");
    let mut rep = signed_in(&app.address, "r3", PASSWORD).await;
    let (status, _, _) = rep.get("/service", "en").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The rebalance page: a manager plans for their team and opens the plan as transfers; an
/// admin moves at once; a rep may not open it.
async fn a_rebalance_is_planned_and_applied_on_the_page(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    for number in 0..12 {
        let (status, answer) = app
            .put(
                &format!("/api/v1/customers/RB-{number:02}"),
                json!({"name": format!("客户{number}"), "region": "上海/浦东", "owner_id": "r3"}),
            )
            .await;
        assert!(status.is_success(), "{answer}");
    }
    let mut rep = signed_in(&app.address, "r3", PASSWORD).await;
    let (status, _, _) = rep.get("/rebalance", "en").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut manager = signed_in(&app.address, "r2", PASSWORD).await;
    let (status, _, page) = manager.get("/rebalance", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"<a href="/rebalance">Rebalance</a>"#),
        "{page}"
    );
    let csrf = form_token(&page);
    let (status, _, page) = manager
        .post(
            "/rebalance",
            &[
                ("csrf", &csrf),
                ("team", "east"),
                ("max_moves", ""),
                ("step", "plan"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Rebalance plan (nothing was written)"),
        "{page}"
    );
    assert!(page.contains("load above the team mean"), "{page}");
    assert!(page.contains("Max/mean workload per team, after"), "{page}");
    assert!(
        !page.contains("Move now (no approval)"),
        "admins only: {page}"
    );
    let (status, _, page) = manager
        .post(
            "/rebalance",
            &[
                ("csrf", &csrf),
                ("team", "east"),
                ("max_moves", "many"),
                ("step", "plan"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("The move limit must be a whole number"),
        "{page}"
    );
    let (status, location, _) = manager
        .post(
            "/rebalance",
            &[
                ("csrf", &csrf),
                ("team", "east"),
                ("max_moves", "2"),
                ("step", "apply"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/transfers"))
    );
    let (_, transfers) = app.get("/api/v1/transfers").await;
    assert!(
        transfers
            .as_array()
            .unwrap()
            .iter()
            .any(|transfer| transfer["reason_kind"] == "rebalance"),
        "{transfers}"
    );
    let (status, _, _) = manager
        .post(
            "/rebalance",
            &[("csrf", &csrf), ("team", "east"), ("step", "move")],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "moving at once is for admins"
    );

    let mut admin = signed_in(&app.address, "r1", PASSWORD).await;
    let (_, _, page) = admin.get("/rebalance", "en").await;
    let csrf = form_token(&page);
    let (status, location, _) = admin
        .post(
            "/rebalance",
            &[("csrf", &csrf), ("team", "east"), ("step", "move")],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/rebalance"))
    );
    let (_, _, page) = admin.get("/rebalance?lang=en", "en").await;
    assert!(
        page.contains("customers moved, each with its event"),
        "{page}"
    );
}

allot_store::test_on_both_backends! {
    a_rebalance_is_planned_and_applied_on_the_page => super::a_rebalance_is_planned_and_applied_on_the_page;
    every_page_answers_each_role_as_the_page_table_says => super::every_page_answers_each_role_as_the_page_table_says;
    the_customer_page_shows_everything_in_view_and_nothing_else => super::the_customer_page_shows_everything_in_view_and_nothing_else;
    a_transfer_is_requested_approved_and_accepted_on_the_pages => super::a_transfer_is_requested_approved_and_accepted_on_the_pages;
    rules_are_checked_at_their_line_saved_by_an_admin_and_compared => super::rules_are_checked_at_their_line_saved_by_an_admin_and_compared;
    reps_are_edited_within_a_subtree_and_leave_with_a_successor => super::reps_are_edited_within_a_subtree_and_leave_with_a_successor;
    an_excel_workbook_is_imported_with_its_bad_row_shown => super::an_excel_workbook_is_imported_with_its_bad_row_shown;
    a_ticket_is_answered_resolved_and_rated_on_its_page => super::a_ticket_is_answered_resolved_and_rated_on_its_page;
    a_care_task_is_completed_from_the_calendar => super::a_care_task_is_completed_from_the_calendar;
    the_service_page_shows_the_reports_of_a_subtree => super::the_service_page_shows_the_reports_of_a_subtree;
}
