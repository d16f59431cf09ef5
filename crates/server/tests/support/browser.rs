//! A browser without JavaScript for the web UI's handler tests: posts forms, keeps cookies,
//! follows no redirect by itself.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;

use super::TestApp;

/// The password of every rep of [`organisation_with_logins`].
pub const PASSWORD: &str = "a long enough password";

/// A browser without JavaScript: follows no redirect by itself, keeps its cookies.
pub struct Browser {
    client: reqwest::Client,
    pub base: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            cookies: Vec::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let text = header.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            assert!(
                attributes.contains("HttpOnly") && attributes.contains("SameSite=Lax"),
                "{text}"
            );
            self.cookies.retain(|(key, _)| key != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub async fn request(
        &mut self,
        method: reqwest::Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        language: &str,
    ) -> (StatusCode, Option<String>, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("accept-language", language);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header(COOKIE, jar.join("; "));
        }
        if let Some(fields) = form {
            let body: Vec<String> = fields
                .iter()
                .map(|(name, value)| format!("{name}={}", encode(value)))
                .collect();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.join("&"));
        }
        let response = request.send().await.unwrap();
        self.keep_cookies(&response);
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|value| value.to_str().unwrap().to_string());
        (status, location, response.text().await.unwrap())
    }

    pub async fn get(
        &mut self,
        path: &str,
        language: &str,
    ) -> (StatusCode, Option<String>, String) {
        self.request(reqwest::Method::GET, path, None, language)
            .await
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        self.request(reqwest::Method::POST, path, Some(form), "en")
            .await
    }
}

pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The value of the hidden `csrf` field of the page's form.
pub fn form_token(page: &str) -> String {
    let after = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .unwrap_or_else(|| panic!("a form token on {page}"));
    after.split('"').next().unwrap().to_string()
}

/// Signs `rep` in with `password` through the login form; the browser keeps the session.
pub async fn signed_in(base: &str, rep: &str, password: &str) -> Browser {
    let mut browser = Browser::new(base);
    let (_, _, page) = browser.get("/login?lang=en", "en").await;
    let token = form_token(&page);
    let (status, location, page) = browser
        .post(
            "/login",
            &[("rep_id", rep), ("password", password), ("csrf", &token)],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/")),
        "{rep} signs in: {page}"
    );
    browser
}

/// The seeded organisation with roles: r1 an admin (team hq), r2 the manager of team east,
/// r3 a rep of east; a customer each for r1 and r3, one routed by the rules to r2, one in
/// the pool; CU-E1 bought once. Every rep's password is [`PASSWORD`].
pub async fn organisation_with_logins(app: &TestApp) {
    app.seed_organisation().await;
    for (rep, body) in [
        ("r1", json!({"role": "admin"})),
        ("r2", json!({"role": "manager"})),
    ] {
        let (status, answer) = app.put(&format!("/api/v1/reps/{rep}"), body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, answer) = app
        .put("/api/v1/teams/east", json!({"manager_id": "r2"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for rep in ["r1", "r2", "r3"] {
        let (status, answer) = app
            .put(
                &format!("/api/v1/reps/{rep}/password"),
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    for (id, owner, phone) in [
        ("CU-E1", Some("r3"), "13800138000"),
        ("CU-H1", Some("r1"), "13800138010"),
        ("CU-P", None, "13800138020"),
    ] {
        let (status, answer) = app
            .post(
                "/api/v1/customers",
                json!({"id": id, "name": format!("客户{id}"), "region": "上海/浦东", "phone": phone, "owner_id": owner}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let (status, answer) = app
        .post(
            "/api/v1/route",
            json!({"id": "CU-R", "name": "大客户R", "region": "上海/浦东", "tier": "A"}),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    assert_eq!(answer["decision"]["owner_id"], "r2", "{answer}");
    let (status, answer) = app
        .post(
            "/api/v1/transactions",
            json!({"customer_id": "CU-E1", "at": "2026-10-01", "amount": "1288.50", "product_line": "云服务"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}
