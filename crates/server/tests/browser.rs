//! The web UI in real Chromium (Debian's `chromium` and `chromium-driver`, driven over
//! WebDriver): an admin, a manager and a rep log in through the form; the dashboard's charts
//! are drawn with one mark per rep in view; a customer is found and its explanation read; a
//! capped rep's claim is refused in words; a transfer is requested, approved and accepted; a
//! rule with an error is saved and shown at its line; an .xlsx with a bad row is imported; the
//! language is switched. Every page is photographed at 1280 px and 375 px under
//! `target/ui-screenshots/`, checked for sideways scrolling at 375 px, and checked by axe-core
//! (no `serious` or `critical` violation).
//!
//! Needs `chromedriver` and `chromium` on the PATH (or `CHROMEDRIVER` / `CHROMIUM`) and
//! axe-core's `axe.min.js` at `target/ui-tools/node_modules/axe-core/` (or `ALLOT_AXE_JS`):
//! `.ci/run` installs all three. Without them this test fails, saying what to install.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use allot_store::Backend;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::browser::{organisation_with_logins, PASSWORD};
use support::{spawn_app, TestApp};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn start_browser() -> (Driver, Client) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let process = Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "cannot start {driver_path} ({error}): the browser tests need Chromium and \
                 ChromeDriver (apt-get install chromium chromium-driver; .ci/run does it)"
            )
        });
    let driver = Driver {
        process,
        url: format!("http://127.0.0.1:{port}"),
    };
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    // The confirm dialogs of the pages' script are answered yes.
    capabilities.insert("unhandledPromptBehavior".into(), json!("accept"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=en-US", "--hide-scrollbars"],
        }),
    );
    let mut last_error = None;
    // chromedriver takes a moment to listen.
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(error) => last_error = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not start a browser: {last_error:?}");
}

/// axe-core's script, as `.ci/run` installs it.
fn axe_source() -> String {
    let path = std::env::var("ALLOT_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            workspace_root().join("target/ui-tools/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "axe-core is not at {} ({error}): npm install --prefix target/ui-tools axe-core \
             (.ci/run does it)",
            path.display()
        )
    })
}

/// What the pages are checked and photographed with.
struct Session {
    client: Client,
    base: String,
    axe: String,
    shots: PathBuf,
    prefix: &'static str,
}

impl Session {
    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
        {
            Ok(element) => element,
            Err(error) => panic!("{selector}: {error}\n{}", self.source().await),
        }
    }

    async fn count(&self, selector: &str) -> usize {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .unwrap()
            .len()
    }

    async fn type_into(&self, selector: &str, text: &str) {
        let field = self.css(selector).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, selector: &str) {
        self.css(selector).await.click().await.unwrap();
    }

    async fn script(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// The page photographed at 1280 and 375 px wide, without sideways scrolling at 375, and
    /// checked by axe-core.
    async fn check_page(&self, name: &str) {
        for width in [1280_u32, 375] {
            self.client.set_window_size(width, 900).await.unwrap();
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(
                self.shots
                    .join(format!("{}-{name}-{width}.png", self.prefix)),
                png,
            )
            .unwrap();
            if width == 375 {
                let overflow = self
                    .script(
                        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                    )
                    .await;
                assert!(
                    overflow.as_i64().unwrap_or(0) <= 1,
                    "{name} scrolls sideways at 375 px by {overflow} px"
                );
            }
        }
        self.client.set_window_size(1280, 900).await.unwrap();
        self.script(&self.axe).await;
        let violations = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { resultTypes: ["violations"] })
                      .then(result => done(result.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 3).map(n => n.html) }))))
                      .catch(error => done([{ id: "axe-error", impact: "critical", help: String(error), nodes: [] }]));"#,
                Vec::new(),
            )
            .await
            .unwrap();
        let serious: Vec<&Value> = violations
            .as_array()
            .unwrap()
            .iter()
            .filter(|violation| {
                matches!(violation["impact"].as_str(), Some("serious" | "critical"))
            })
            .collect();
        assert!(
            serious.is_empty(),
            "{name}: accessibility violations {serious:#?}"
        );
    }

    async fn log_in(&self, rep: &str) {
        self.goto("/login?lang=en").await;
        self.type_into("#rep_id", rep).await;
        self.type_into("#password", PASSWORD).await;
        self.click("form.login button[type=submit]").await;
        self.css("svg.chart").await;
    }

    async fn log_out(&self) {
        self.click("form.signout button").await;
        self.css("#rep_id").await;
    }

    /// The one-time message the last form left, once it says `expected`: a click returns
    /// before the page it posts to has replaced the old one, which may have a message of its
    /// own (or vanish under the search for it).
    async fn flash_saying(&self, expected: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(element) = self.client.find(Locator::Css("main p[role=status]")).await {
                if let Ok(text) = element.text().await {
                    if text.contains(expected) {
                        return text;
                    }
                    last = text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no message saying {expected:?} (last: {last:?}):\n{}",
            self.source().await
        )
    }

    /// Waits until the address holds `fragment` (the page a form or link leads to is there).
    async fn wait_for_address(&self, fragment: &str) {
        for _ in 0..100 {
            if let Ok(address) = self.client.current_url().await {
                if address.as_str().contains(fragment) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the address never held {fragment:?}");
    }
}

/// The pages' organisation (see `organisation_with_logins`), r3 capped at the one customer
/// it owns, everyone graded.
async fn organisation(app: &TestApp) {
    organisation_with_logins(app).await;
    let (status, answer) = app.put("/api/v1/reps/r3", json!({"capacity": 1})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = app
        .put(
            "/api/v1/policy",
            json!({"source": allot_core::demo::DEMO_POLICY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = app
        .post("/api/v1/tickets", json!({"id": "K-E1", "customer_id": "CU-E1", "opened_at": "2026-11-24T17:00:00+08:00", "severity": "major", "kind": "complaint", "subject": "交付延期"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = app.call(reqwest::Method::POST, "/api/v1/score", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The care calendar planned for the graded tiers.
    let (status, answer) = app.call(reqwest::Method::POST, "/api/v1/tick", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A workbook of customers whose second data row (sheet row 3) has a phone number too short.
fn workbook_with_a_bad_row(folder: &Path) -> PathBuf {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (column, header) in ["客户编号", "客户名称", "地区", "电话"].iter().enumerate()
    {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    for (row, (id, phone)) in [("X-1", 13_800_138_001.0), ("X-2", 12.0)]
        .iter()
        .enumerate()
    {
        let row = row as u32 + 1;
        sheet.write_string(row, 0, *id).unwrap();
        sheet.write_string(row, 1, format!("表格客户{id}")).unwrap();
        sheet.write_string(row, 2, "北京/海淀").unwrap();
        sheet.write_number(row, 3, *phone).unwrap();
    }
    let path = folder.join("客户.xlsx");
    book.save(&path).unwrap();
    path
}

async fn the_pages_work_for_each_role_in_chromium(backend: Backend) {
    let app = spawn_app(backend).await;
    organisation(&app).await;
    let shots = workspace_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let (_driver, client) = start_browser().await;
    let page = Session {
        client,
        base: app.address.clone(),
        axe: axe_source(),
        shots,
        prefix: match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
    };

    // The rep: its own book on the dashboard, a refused claim, a customer found and read, a
    // transfer asked for.
    page.goto("/login?lang=en").await;
    page.css("#rep_id").await;
    page.check_page("login").await;
    page.log_in("r3").await;
    // Keyboard: the first Tab lands on the skip link.
    page.css("body").await.send_keys("\u{E004}").await.unwrap();
    let focused = page
        .script("return document.activeElement.className;")
        .await;
    assert_eq!(focused, "skip");
    let owned_bars = page
        .count("svg.chart[aria-label='Customers owned per rep'] g.bar")
        .await;
    assert_eq!(owned_bars, 1, "the rep's own: {}", page.source().await);
    assert_eq!(page.count("svg.lorenz circle.point").await, 1);
    page.check_page("dashboard-rep").await;
    page.goto("/pool").await;
    page.check_page("pool").await;
    page.click("button[aria-label='Claim CU-P']").await;
    page.flash_saying("Claiming CU-P was refused: you hold as many as you may (you hold 1 customers; the cap is 1)")
        .await;
    page.goto("/customers").await;
    page.type_into("#q", "CU-E1").await;
    page.click("form.filters button[type=submit]").await;
    page.wait_for_address("q=CU-E1").await;
    page.css("a[href='/customers/CU-E1']")
        .await
        .click()
        .await
        .unwrap();
    page.css("#explain-title").await;
    assert!(page.source().await.contains("1,288.50"));
    page.check_page("customer-rep").await;
    page.css("#transfer-to")
        .await
        .select_by_value("r2")
        .await
        .unwrap();
    page.css("#transfer-reason")
        .await
        .select_by_value("customer_request")
        .await
        .unwrap();
    page.type_into("#transfer-text", "客户要求换人").await;
    page.click("form[action$='/transfer'] button[type=submit]")
        .await;
    page.flash_saying("requested").await;
    page.goto("/tickets").await;
    page.check_page("tickets").await;
    page.click("a[href='/tickets/K-E1']").await;
    page.check_page("ticket").await;
    page.click("form[action$='/respond'] button[type=submit]")
        .await;
    page.flash_saying("Ticket K-E1 updated.").await;
    page.goto("/calendar").await;
    page.check_page("calendar").await;
    page.log_out().await;

    // The manager: its subtree on the dashboard, the transfer approved and accepted, the
    // routed customer's explanation, the rules checked at their line, the reps.
    page.log_in("r2").await;
    let owned_bars = page
        .count("svg.chart[aria-label='Customers owned per rep'] g.bar")
        .await;
    assert_eq!(owned_bars, 2, "r2 and r3: {}", page.source().await);
    page.check_page("dashboard-manager").await;
    page.goto("/transfers").await;
    page.check_page("transfers").await;
    page.click("#approve-title ~ table a").await;
    page.type_into("#comment", "同意").await;
    page.click("button[value=approve]").await;
    page.flash_saying("is now approved").await;
    page.click("button[value=accept]").await;
    page.flash_saying("is now accepted").await;
    page.check_page("transfer").await;
    page.goto("/customers/CU-R").await;
    let explanation = page.css("ol.trace").await.text().await.unwrap();
    assert!(
        explanation.contains("华东大客户") && explanation.contains("matched"),
        "{explanation}"
    );
    page.check_page("customer-manager").await;
    page.goto("/service").await;
    page.check_page("service").await;
    page.goto("/reps").await;
    page.check_page("reps").await;
    page.goto("/reps/r3").await;
    page.check_page("rep").await;
    page.log_out().await;

    // The admin: everyone on the dashboard, a rule with an error saved and shown at its line,
    // an .xlsx with a bad row, the language switched.
    page.log_in("r1").await;
    let owned_bars = page
        .count("svg.chart[aria-label='Customers owned per rep'] g.bar")
        .await;
    assert_eq!(owned_bars, 3, "{}", page.source().await);
    page.check_page("dashboard-admin").await;
    page.goto("/rules").await;
    page.check_page("rules").await;
    page.type_into(
        "#source",
        "[[rule]]\nname = \"x\"\nwhen = \"tier ==\"\nto = { team = \"east\" }\n",
    )
    .await;
    page.click("button[value=save]").await;
    let problems = page.css("#problems").await.text().await.unwrap();
    assert!(problems.contains("line 3"), "{problems}");
    assert_eq!(page.count("li#L3.wrong").await, 1);
    page.check_page("rules-problems").await;
    let (_, versions) = app.get("/api/v1/rules/versions").await;
    assert_eq!(
        versions.as_array().unwrap().len(),
        1,
        "the broken rules were not stored"
    );
    page.goto("/teams/east").await;
    page.check_page("team").await;
    page.goto("/import").await;
    page.check_page("import").await;
    let folder = std::env::temp_dir().join(format!(
        "allot-browser-{}-{}",
        std::process::id(),
        page.prefix
    ));
    std::fs::create_dir_all(&folder).unwrap();
    let workbook = workbook_with_a_bad_row(&folder);
    page.css("#file")
        .await
        .send_keys(workbook.to_str().unwrap())
        .await
        .unwrap();
    page.click("#strict").await;
    page.click("form[action='/import'] button[type=submit]")
        .await;
    let bad_row = page.css("tr.wrong").await.text().await.unwrap();
    assert!(bad_row.starts_with("3 phone"), "{bad_row}");
    page.check_page("import-result").await;
    let (_, found) = app.get("/api/v1/customers?q=X-").await;
    assert_eq!(found["total"], 0, "strict: nothing written");
    page.click("nav.languages a[lang=zh-CN]").await;
    page.css("html[lang=zh-CN]").await;
    assert!(page.source().await.contains("导入"));
    page.goto("/").await;
    page.check_page("dashboard-zh").await;
    let _ = std::fs::remove_dir_all(folder);
    page.client.close().await.unwrap();
}

allot_store::test_on_both_backends! {
    the_pages_work_for_each_role_in_chromium => super::the_pages_work_for_each_role_in_chromium;
}
