//! The web UI through the real server: a page without a session sends to the login; a login
//! needs its form's token and the right password; a rep's dashboard shows its own book only; the
//! language follows `Accept-Language` and a chosen one is remembered; logout needs the
//! session's CSRF token and ends the session. The password is set through the API (admin only).

use allot_store::Backend;
use reqwest::StatusCode;
use serde_json::json;

mod support;

use support::browser::{form_token, Browser};
use support::spawn_app;

async fn a_rep_logs_in_sees_its_book_and_logs_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    for (id, owner) in [("CU-MINE", "r2"), ("CU-OTHER", "r3")] {
        let (status, body) = app
            .post(
                "/api/v1/customers",
                json!({"id": id, "name": id, "region": "上海", "owner_id": owner}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Passwords are the admin's to set, through the API.
    let rep_token = app
        .store
        .create_token(
            "phone",
            Some(&allot_core::RepId::parse("r2").unwrap()),
            allot_core::Clock::parse("2026-11-25T09:00:00+08:00").unwrap(),
        )
        .await
        .unwrap();
    let (status, body) = app
        .call_as(
            &rep_token,
            reqwest::Method::PUT,
            "/api/v1/reps/r2/password",
            Some(json!({"password": "r2 has a long password"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .put("/api/v1/reps/r2/password", json!({"password": "short"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "password", "{body}");
    let (status, body) = app
        .put(
            "/api/v1/reps/r2/password",
            json!({"password": "r2 has a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"rep_id": "r2", "password_set": true}));

    let mut browser = Browser::new(&app.address);
    let (status, location, _) = browser.get("/", "en").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login"))
    );
    let (status, _, page) = browser.get("/login", "zh-CN,zh;q=0.9").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<html lang="zh-CN">"#) && page.contains("密码"),
        "{page}"
    );
    let token = form_token(&page);

    // A post without the form's token (from another site) is refused, whatever it says.
    let (status, _, _) = browser
        .post(
            "/login",
            &[
                ("rep_id", "r2"),
                ("password", "r2 has a long password"),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, page) = browser.get("/login", "en").await;
    let token_again = form_token(&page);
    assert_ne!(token, token_again, "a fresh form token each time");
    let (status, _, page) = browser
        .post(
            "/login",
            &[
                ("rep_id", "r2"),
                ("password", "not the password"),
                ("csrf", &token_again),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        page.contains("The account or password is not right."),
        "{page}"
    );
    assert!(browser.cookie("allot_session").is_none());

    let token = form_token(&page);
    let (status, location, _) = browser
        .post(
            "/login",
            &[
                ("rep_id", "r2"),
                ("password", "r2 has a long password"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/"))
    );
    assert!(browser.cookie("allot_session").is_some());

    // The dashboard: the rep's own book, in the language asked for.
    let (status, _, page) = browser.get("/", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Signed in as 销售r2 (rep)"), "{page}");
    // The charts are SVG drawn by the server: one bar for the rep's one customer, one point of
    // the Lorenz curve (one rep), one bar per team it belongs to; nothing of r3's.
    assert_eq!(
        page.matches(r#"<g class="bar"><title>r2 销售r2: 1</title>"#)
            .count(),
        1,
        "{page}"
    );
    // One point of the Lorenz curve and one of the scatter of owned count and workload.
    assert_eq!(
        page.matches(r#"<circle class="point""#).count(),
        2,
        "{page}"
    );
    assert!(page.contains("Lorenz curve of workload"), "{page}");
    assert!(!page.contains("r3"), "another rep's row shows: {page}");
    // A language chosen by link is remembered over the browser's.
    let (_, _, page) = browser.get("/?lang=zh-CN", "en").await;
    assert!(page.contains("当前用户"), "{page}");
    assert_eq!(browser.cookie("allot_lang"), Some("zh-CN"));
    let (_, _, page) = browser.get("/", "en").await;
    assert!(page.contains(r#"<html lang="zh-CN">"#), "{page}");

    // Customers: the rep's own only, found by search and filters; a bad filter said in words.
    let (status, _, page) = browser.get("/customers?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"<a href="/customers/CU-MINE">CU-MINE</a> CU-MINE</td>"#),
        "{page}"
    );
    assert!(!page.contains("CU-OTHER"), "{page}");
    let (_, _, page) = browser
        .get(
            "/customers?q=mine&pool=false&region=%E4%B8%8A%E6%B5%B7",
            "en",
        )
        .await;
    assert!(page.contains("Found: 1"), "{page}");
    let (_, _, page) = browser.get("/customers?q=nothing-like-it", "en").await;
    assert!(page.contains("Found: 0"), "{page}");
    let (_, _, page) = browser
        .get("/customers?region=%E5%B9%BF%E4%B8%9C%2F%2F", "en")
        .await;
    assert!(page.contains(r#"<p class="error" role="alert">"#), "{page}");

    // The pool: a customer nobody owns, claimed with its button; one already owned, refused
    // in words with the rule's numbers. What happened shows once, on the page redirected to.
    let (status, body) = app
        .post(
            "/api/v1/customers",
            json!({"id": "CU-FREE", "name": "CU-FREE", "region": "上海"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, page) = browser.get("/pool?lang=en", "en").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"<a href="/customers/CU-FREE">CU-FREE</a> CU-FREE</td>"#),
        "{page}"
    );
    assert!(!page.contains("CU-OTHER"), "{page}");
    let csrf = form_token(&page);
    let (status, location, _) = browser
        .post(
            "/pool/claim",
            &[("customer_id", "CU-FREE"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/pool"))
    );
    let (_, _, page) = browser.get("/pool", "en").await;
    assert!(
        page.contains("You claimed CU-FREE; it is yours now."),
        "{page}"
    );
    assert!(page.contains("The pool is empty."), "{page}");
    let (_, _, page) = browser.get("/pool", "en").await;
    assert!(!page.contains("You claimed"), "shown once: {page}");
    browser
        .post(
            "/pool/claim",
            &[("customer_id", "CU-OTHER"), ("csrf", &csrf)],
        )
        .await;
    let (_, _, page) = browser.get("/pool", "en").await;
    assert!(
        page.contains("Claiming CU-OTHER was refused: someone owns this customer"),
        "{page}"
    );
    assert!(
        !page.contains("r3"),
        "the owner out of view is not named: {page}"
    );
    let (status, _, _) = browser
        .post(
            "/pool/claim",
            &[("customer_id", "CU-FREE"), ("csrf", "forged")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Release from the customers page: one's own, with a reason; someone else's is refused.
    let (_, _, page) = browser.get("/customers", "en").await;
    assert_eq!(
        page.matches(r#"action="/customers/release""#).count(),
        2,
        "{page}"
    );
    let (status, location, _) = browser
        .post(
            "/customers/release",
            &[
                ("customer_id", "CU-FREE"),
                ("reason", "客户无意向"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/customers"))
    );
    let (_, _, page) = browser.get("/customers", "en").await;
    assert!(page.contains("CU-FREE is back in the pool."), "{page}");
    browser
        .post(
            "/customers/release",
            &[
                ("customer_id", "CU-OTHER"),
                ("reason", "not mine"),
                ("csrf", &csrf),
            ],
        )
        .await;
    let (_, _, page) = browser.get("/customers", "en").await;
    assert!(
        page.contains("Releasing CU-OTHER was refused: you do not own this customer"),
        "{page}"
    );

    // Logout needs the session's token; then the session is over.
    let csrf = form_token(&page);
    let (status, _, _) = browser.post("/logout", &[("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let session = browser.cookie("allot_session").unwrap().to_string();
    let (status, location, _) = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login"))
    );
    assert!(browser.cookie("allot_session").is_none());
    let clock = allot_core::Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
    assert!(app.store.session(&session, clock).await.unwrap().is_none());

    // The stylesheet is served from the binary.
    let (status, _, css) = browser.get("/assets/allot.css", "en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains("--accent"), "{css}");
}

allot_store::test_on_both_backends! {
    a_rep_logs_in_sees_its_book_and_logs_out => super::a_rep_logs_in_sees_its_book_and_logs_out;
}
