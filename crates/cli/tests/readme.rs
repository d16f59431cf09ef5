//! The README's examples run as written: every `allot` line of its shell blocks, in order, on
//! files like the ones it names; its rules example is accepted by `rules set`; its `curl`
//! example routes a customer through a real `allot serve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};

use allot_store::testing::TestDatabase;
use allot_store::Backend;

mod support;

use support::Workspace;

const ADMIN_TOKEN: &str = "readme-test-admin-token-0123456789";

fn readme() -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "README.md"]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The bodies of the README's fenced blocks in `language`, in order.
fn blocks(readme: &str, language: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.trim() == format!("```{language}") => current = Some(String::new()),
            Some(body) if line.trim() == "```" => {
                found.push(std::mem::take(body));
                current = None;
            }
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    found
}

/// A shell line split into words as the shell would (quotes, a trailing `# comment`), and the
/// file named after `>`, if any.
fn shell_words(line: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut redirect = false;
    let mut output = None;
    let mut finish = |word: &mut Option<String>, redirect: &mut bool| {
        if let Some(done) = word.take() {
            if *redirect {
                output = Some(done);
                *redirect = false;
            } else {
                words.push(done);
            }
        }
    };
    for character in line.chars() {
        match (quote, character) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(character);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, '>') if word.is_none() => redirect = true,
            (None, c) if c.is_whitespace() => finish(&mut word, &mut redirect),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    finish(&mut word, &mut redirect);
    (words, output)
}

/// The forms of a usage line to run: without its `[optional]` parts, then with each of them in
/// turn (the first of `a|b` alternatives).
fn forms(words: &[String]) -> Vec<Vec<String>> {
    let mut required = Vec::new();
    let mut optional: Vec<Vec<String>> = Vec::new();
    let mut open: Option<Vec<String>> = None;
    for word in words {
        match &mut open {
            None if word.starts_with('[') => {
                let inner = word.trim_start_matches('[');
                if let Some(whole) = inner.strip_suffix(']') {
                    optional.push(vec![first_alternative(whole)]);
                } else {
                    open = Some(vec![first_alternative(inner)]);
                }
            }
            Some(part) if word.ends_with(']') => {
                part.push(first_alternative(word.trim_end_matches(']')));
                optional.push(open.take().unwrap());
            }
            Some(part) => part.push(first_alternative(word)),
            None => required.push(word.clone()),
        }
    }
    let mut forms = vec![required.clone()];
    for part in optional {
        let mut form = required.clone();
        form.extend(part);
        forms.push(form);
    }
    forms
}

fn first_alternative(word: &str) -> String {
    word.split('|').next().unwrap_or(word).to_string()
}

/// Files like the ones the README names, made from a demo organisation in another database.
async fn write_the_named_files(backend: Backend, workspace: &Workspace) {
    let source = Workspace::new(backend).await;
    source.allot_ok(&["demo", "--no-serve", "--customers", "300"]);
    let write = |name: &str, contents: &str| {
        workspace.file(name, contents);
    };
    write("teams.csv", &source.allot_ok(&["export", "teams"]));
    write("reps.csv", &source.allot_ok(&["export", "reps"]));
    // The README routes the customers it imports: they arrive without owners.
    write(
        "customers.csv",
        &without_column(&source.allot_ok(&["export", "customers"]), "owner_id"),
    );
    write("rules.toml", &source.allot_ok(&["rules", "show"]));
    write(
        "transactions.csv",
        "customer_id,at,amount,product_line\n\
         c00042,2026-03-02,12000,软件\n\
         c00042,2026-07-15,8000.50,服务\n\
         c00043,2026-10-01,3000,软件\n",
    );
    write(
        "interactions.csv",
        "customer_id,rep_id,at,kind,minutes,outcome\n\
         c00042,r07,2026-11-20T10:00:00+08:00,visit,60,reached\n",
    );
    write(
        "tickets.csv",
        "id,customer_id,opened_at,closed_at,severity,subject\n\
         k1,c00042,2026-11-01T09:00:00+08:00,,major,发票问题\n",
    );
    // Enough buyers in 1997 for both models to be fitted.
    let mut purchases = String::from("customer_id,at,amount\n");
    for customer in 0..60u32 {
        for purchase in 0..(1 + customer % 4) {
            let month = 1 + (customer + purchase * 3) % 12;
            let day = 1 + (customer * 7 + purchase) % 27;
            let amount = 10 + (customer * 13 + purchase * 7) % 90;
            purchases.push_str(&format!(
                "k{customer:03},1997-{month:02}-{day:02},{amount}\n"
            ));
        }
    }
    write("t.csv", &purchases);
    // A small generalised-assignment instance (2 agents, 4 items) for the solver's lines.
    write("gap.txt", "2 4\n3 5 4 6\n4 3 6 5\n2 3 2 4\n3 2 3 3\n6 6\n");
}

fn without_column(csv: &str, column: &str) -> String {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let drop = headers.iter().position(|header| header == column);
    let mut writer = csv::Writer::from_writer(Vec::new());
    let keep = |record: &csv::StringRecord| -> Vec<String> {
        record
            .iter()
            .enumerate()
            .filter(|(index, _)| Some(*index) != drop)
            .map(|(_, value)| value.to_string())
            .collect()
    };
    writer.write_record(keep(&headers)).unwrap();
    for record in reader.records() {
        writer.write_record(keep(&record.unwrap())).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

/// What the lifecycle examples' ids stand for here: the README names customers, a transfer and
/// a conflict of the demo; the test gives them customers that r07 owns after routing, and the
/// ids the earlier lines printed.
#[derive(Default)]
struct LifecycleIds {
    customers: std::collections::HashMap<String, String>,
    transfer: Option<String>,
    conflict: Option<String>,
}

impl LifecycleIds {
    /// The README's customer ids, one for each of r07's customers not of tier A (whose
    /// transfers need two approvals), in order of first use.
    const CUSTOMERS: [&'static str; 3] = ["c00027", "c00087", "c00114"];

    fn substitute(&mut self, workspace: &Workspace, form: &mut [String]) {
        let command: Vec<&str> = form.iter().take(2).map(String::as_str).collect();
        match command.as_slice() {
            ["transfer", "approve" | "accept" | "show" | "reject" | "decline" | "cancel"] => {
                form[2] = self
                    .transfer
                    .clone()
                    .expect("a transfer was requested before");
            }
            ["conflicts", "show" | "dispute" | "decide" | "merge"] => {
                form[2] = self.conflict.clone().expect("a conflict was opened before");
            }
            ["import", "customers"] if form[2] == "leads.csv" => {
                // A lead under another id with the name of the customer transferred to r08.
                let (name, region) = self.customer_row(workspace, "c00114");
                workspace.file(
                    "leads.csv",
                    &format!("id,name,region,first_touch_rep_id\nlead1,{name},{region},r09\n"),
                );
            }
            _ => {}
        }
        for word in form.iter_mut() {
            let mut parts: Vec<String> = Vec::new();
            for part in word.split(',') {
                if Self::CUSTOMERS.contains(&part) {
                    parts.push(self.customer(workspace, part));
                } else {
                    parts.push(part.to_string());
                }
            }
            *word = parts.join(",");
        }
    }

    fn customer(&mut self, workspace: &Workspace, readme_id: &str) -> String {
        if let Some(id) = self.customers.get(readme_id) {
            return id.clone();
        }
        let taken: Vec<String> = self.customers.values().cloned().collect();
        let exported = workspace.allot_ok(&["export", "customers"]);
        let mut reader = csv::Reader::from_reader(exported.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|header| header == name).unwrap();
        let (id, owner, tier) = (column("id"), column("owner_id"), column("tier"));
        let found = reader
            .records()
            .map(Result::unwrap)
            .find(|row| {
                &row[owner] == "r07" && &row[tier] != "A" && !taken.iter().any(|t| t == &row[id])
            })
            .unwrap_or_else(|| panic!("r07 owns a customer for {readme_id}"));
        self.customers
            .insert(readme_id.to_string(), found[id].to_string());
        found[id].to_string()
    }

    fn customer_row(&mut self, workspace: &Workspace, readme_id: &str) -> (String, String) {
        let id = self.customer(workspace, readme_id);
        let exported = workspace.allot_ok(&["export", "customers"]);
        let mut reader = csv::Reader::from_reader(exported.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|header| header == name).unwrap();
        let row = reader
            .records()
            .map(Result::unwrap)
            .find(|row| row[column("id")] == id)
            .unwrap();
        (
            row[column("name")].to_string(),
            row[column("region")].to_string(),
        )
    }

    /// Keeps the ids a line printed: `transfer N: …`, `kept in conflict N`.
    fn note(&mut self, arguments: &[&str], printed: &str) {
        let number_after = |marker: &str| {
            printed.split(marker).nth(1).map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
        };
        if arguments.starts_with(&["transfer", "request"]) {
            self.transfer = number_after("transfer ");
        }
        if arguments.starts_with(&["import", "customers"]) && printed.contains("kept in conflict ")
        {
            self.conflict = number_after("kept in conflict ");
        }
    }
}

/// `allot serve` on a free port of the workspace's database; its address.
fn serve(workspace: &Workspace) -> (Child, String) {
    let mut child = workspace
        .command()
        .args(["serve", "--addr", "127.0.0.1:0", "--tick-every", "0"])
        .env("ALLOT_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start allot serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("serving http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (child, address)
}

/// The README's curl example sent as it is written (method, path, body), on `address`.
fn send_the_curl_example(readme: &str, address: &str) -> String {
    let block = blocks(readme, "sh")
        .into_iter()
        .find(|block| block.contains("curl "))
        .expect("the README has a curl example");
    let joined = block.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|line| line.trim_start().starts_with("curl "))
        .unwrap();
    let (words, _) = shell_words(line);
    let argument = |flag: &str| {
        words
            .iter()
            .position(|word| word == flag)
            .map(|at| words[at + 1].clone())
    };
    let method = argument("-X").unwrap_or_else(|| "GET".to_string());
    let body = argument("-d").expect("the example sends a body");
    let url = words
        .iter()
        .find(|word| word.starts_with("localhost:8080/"))
        .expect("the example names its URL");
    let path = url.trim_start_matches("localhost:8080");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

async fn the_readme_examples_run_as_written(backend: Backend) {
    let readme = readme();
    let workspace = Workspace::new(backend).await;
    write_the_named_files(backend, &workspace).await;
    let mut ran = 0;
    let mut token_id = None;
    let mut lifecycle = LifecycleIds::default();
    let mut printed_by_line: Vec<(String, String)> = Vec::new();
    let mut migration_target: Option<TestDatabase> = None;
    for block in blocks(&readme, "sh") {
        for line in block.lines() {
            let (words, output) = shell_words(line);
            if words.first().map(String::as_str) != Some("allot") {
                continue;
            }
            // Long-running: the demo and serve are run by their own tests (and serve below).
            if matches!(words.get(1).map(String::as_str), Some("serve" | "demo")) {
                continue;
            }
            for mut form in forms(&words[1..]) {
                // The README's token id stands for one that `token list` shows.
                for word in &mut form {
                    if word == "3f9a0c1d2e4b" {
                        *word = token_id.clone().expect("a token was created before");
                    }
                }
                lifecycle.substitute(&workspace, &mut form);
                // The migration example: its SQLite file is this workspace's database, its
                // PostgreSQL database a fresh, empty one.
                if let Some(at) = form.iter().position(|word| word == "--db") {
                    if form[at + 1].starts_with("postgres://") {
                        if migration_target.is_none() {
                            migration_target = Some(TestDatabase::create(Backend::Postgres).await);
                        }
                        form[at + 1] = migration_target.as_ref().unwrap().url.clone();
                    } else {
                        form[at + 1] = workspace.database.url.clone();
                    }
                }
                let arguments: Vec<&str> = form.iter().map(String::as_str).collect();
                let printed = workspace.allot_ok(&arguments);
                lifecycle.note(&arguments, &printed);
                printed_by_line.push((arguments.join(" "), printed.clone()));
                ran += 1;
                if let Some(file) = &output {
                    workspace.file(file, &printed);
                }
                if arguments.starts_with(&["token", "list"]) {
                    token_id = printed
                        .lines()
                        .nth(1)
                        .and_then(|line| line.split_whitespace().next())
                        .map(str::to_string);
                }
            }
        }
    }
    assert!(ran >= 30, "the README's examples ran ({ran} commands)");
    // The lifecycle lines did what their comments say.
    for (line, expected) in [
        ("claim", "claimed: owner r08"),
        ("transfer accept", ": accepted"),
        ("import customers leads.csv", "1 duplicate(s)"),
        ("conflicts decide", ": kept"),
        ("reps deactivate r07", "r07 is inactive"),
    ] {
        let (_, printed) = printed_by_line
            .iter()
            .find(|(ran, _)| ran.starts_with(line))
            .unwrap_or_else(|| panic!("the README runs `allot {line}`"));
        assert!(printed.contains(expected), "allot {line}: {printed}");
    }
    // The migration example restored everything and its check passed.
    let (_, checked) = printed_by_line
        .iter()
        .rev()
        .find(|(ran, _)| ran.ends_with(" check"))
        .expect("the README checks the restored database");
    assert!(checked.contains("every invariant holds"), "{checked}");
    assert!(
        migration_target.is_some(),
        "the README restores into PostgreSQL"
    );

    // What the everyday lines did: customers routed, an export that round-trips.
    let exported = std::fs::read_to_string(workspace.directory.path().join("out.csv")).unwrap();
    assert_eq!(exported.lines().count(), 301, "{exported}");

    // The rules example names the demo's teams and skills: it is accepted as written.
    let rules = blocks(&readme, "toml")
        .into_iter()
        .find(|block| block.contains("[[rule]]"))
        .expect("the README has a rules example");
    let path = workspace.file("readme-rules.toml", &rules);
    workspace.allot_ok(&["rules", "set", path.to_str().unwrap()]);
    let shown = workspace.allot_ok(&["rules", "show"]);
    assert!(
        shown.contains("华东大客户") && shown.contains("金融行业"),
        "{shown}"
    );

    let (mut server, address) = serve(&workspace);
    let response = send_the_curl_example(&readme, &address);
    server.kill().unwrap();
    server.wait().unwrap();
    let status = response.lines().next().unwrap_or_default();
    assert!(
        status.contains(" 200 ") || status.contains(" 201 "),
        "{response}"
    );
    assert!(response.contains("\"n1\""), "{response}");
}

allot_store::test_on_both_backends! {
    the_readme_examples_run_as_written => super::the_readme_examples_run_as_written;
}

#[test]
fn shell_words_read_quotes_comments_and_redirects() {
    let (words, output) =
        shell_words(r#"allot tier override c1 --reason "战略 合作" --until x   # a comment"#);
    assert_eq!(
        words,
        [
            "allot",
            "tier",
            "override",
            "c1",
            "--reason",
            "战略 合作",
            "--until",
            "x"
        ]
    );
    assert_eq!(output, None);
    let (words, output) = shell_words("allot export customers > out.csv  # same format");
    assert_eq!(words, ["allot", "export", "customers"]);
    assert_eq!(output.as_deref(), Some("out.csv"));
    let (words, _) = shell_words("allot alerts [--owner r07] [--all]");
    let all: Vec<Vec<String>> = forms(&words[1..]);
    assert_eq!(all.len(), 3);
    assert_eq!(all[1], ["alerts", "--owner", "r07"]);
}
