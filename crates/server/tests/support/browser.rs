//! A browser without JavaScript for the web UI's handler tests: posts forms, keeps cookies,
//! follows no redirect by itself.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

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
