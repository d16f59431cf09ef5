//! The web UI (I3): server-rendered pages over the same store functions and role checks as the
//! API, in zh-CN and en, with password login (X1). Templates, the stylesheet and the words are
//! embedded in the binary; pages work without JavaScript (forms post and redirect).
//!
//! Sessions: a random cookie value (`allot_session`, HttpOnly, SameSite=Lax, Secure behind
//! https) whose hash the store keeps with the session's CSRF token; every form carries that
//! token and a post without it is refused. The login form, before any session, carries the
//! value of its own short-lived cookie (`allot_login`) instead.

mod calendar;
pub mod catalogue;
pub mod charts;
mod customer;
mod organisation;
mod rebalance;
mod rules;
mod service;
mod tickets;
mod transfers;
mod uploads;

use axum::extract::{Form, Query, State};
use axum::http::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{context, Environment};
use serde::Deserialize;

use allot_core::access::Principal;
use allot_core::RepId;
use allot_store::sessions::{LoginRefusal, SessionHolder};

use crate::AppState;
use catalogue::{words, Language};

/// The templates, by name, embedded in the binary.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("login.html", include_str!("templates/login.html")),
    ("home.html", include_str!("templates/home.html")),
    ("pool.html", include_str!("templates/pool.html")),
    ("customers.html", include_str!("templates/customers.html")),
    ("customer.html", include_str!("templates/customer.html")),
    ("not_found.html", include_str!("templates/not_found.html")),
    ("transfers.html", include_str!("templates/transfers.html")),
    ("transfer.html", include_str!("templates/transfer.html")),
    ("rules.html", include_str!("templates/rules.html")),
    (
        "organisation.html",
        include_str!("templates/organisation.html"),
    ),
    ("rep.html", include_str!("templates/rep.html")),
    ("team.html", include_str!("templates/team.html")),
    ("import.html", include_str!("templates/import.html")),
    ("tickets.html", include_str!("templates/tickets.html")),
    ("ticket.html", include_str!("templates/ticket.html")),
    ("calendar.html", include_str!("templates/calendar.html")),
    ("service.html", include_str!("templates/service.html")),
    ("fairness.html", include_str!("templates/fairness.html")),
    ("rebalance.html", include_str!("templates/rebalance.html")),
];

const STYLESHEET: &str = include_str!("templates/allot.css");
/// Enhancements only (confirm dialogs, line numbers, inline checks): every page works without.
const SCRIPT: &str = include_str!("templates/allot.js");
const SESSION_COOKIE: &str = "allot_session";
const LOGIN_COOKIE: &str = "allot_login";
const LANGUAGE_COOKIE: &str = "allot_lang";
/// What the last form did, shown once by the page it redirects to.
const FLASH_COOKIE: &str = "allot_flash";
/// Pool entries, or customers, per page.
const POOL_PAGE: i64 = 50;

/// The pages' routes, each checked against the page table first; none needs an API token.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(log_in))
        .route("/logout", axum::routing::post(log_out))
        .route("/customers", get(customers_page))
        .route("/customers/release", axum::routing::post(release_customer))
        .route("/pool", get(pool_page))
        .route("/pool/claim", axum::routing::post(claim_from_pool))
        .route("/assets/allot.css", get(stylesheet))
        .route("/assets/allot.js", get(script))
        .merge(customer::router())
        .merge(transfers::router())
        .merge(rules::router())
        .merge(organisation::router())
        .merge(uploads::router())
        .merge(tickets::router())
        .merge(calendar::router())
        .merge(service::router())
        .merge(rebalance::router())
        .route_layer(axum::middleware::from_fn_with_state(state, page_access))
}

/// Refuses a page to a role its row in [`crate::access::PAGE_ACCESS`] leaves out (403), and
/// every page without a row. A request without a session goes on: the page sends it to the
/// login.
async fn page_access(
    State(state): State<AppState>,
    matched: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::access::{page_allowed, Allowed};
    let path = matched.map(|matched| matched.as_str().to_string());
    let allowed = path
        .as_deref()
        .and_then(|path| page_allowed(request.method().as_str(), path));
    let refused = || {
        (
            StatusCode::FORBIDDEN,
            "your role may not do this; ask a manager or an admin",
        )
            .into_response()
    };
    match allowed {
        None => refused(),
        Some(Allowed::Anyone | Allowed::Everyone) => next.run(request).await,
        Some(allowed) => match session_of(&state, request.headers()).await {
            Some(session) if !allowed.permits(session.principal.role()) => refused(),
            _ => next.run(request).await,
        },
    }
}

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut environment = Environment::new();
        add_filters(&mut environment);
        for (name, source) in TEMPLATES {
            // The templates are part of the binary: one that does not parse fails every test.
            if let Err(error) = environment.add_template(name, source) {
                tracing::error!(%error, name, "a page template does not parse");
            }
        }
        environment
    })
}

/// The filters pages format with: `when(offset_seconds)` writes a stored time on the
/// organisation's calendar, `number(decimals)` groups thousands, `path` makes an id one safe
/// segment of a link.
fn add_filters(environment: &mut Environment<'static>) {
    environment.add_filter("when", |stored: String, offset_seconds: i32| {
        let offset = chrono::FixedOffset::east_opt(offset_seconds)
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
        local_time(&stored, offset)
    });
    environment.add_filter("path", |raw: String| customer::url_segment(&raw));
    environment.add_filter("urlquery", |raw: String| customer::url_segment(&raw));
    environment.add_filter("number", |value: f64, decimals: Option<usize>| {
        grouped(value, decimals.unwrap_or(0))
    });
}

/// A page rendered, or the plain error a broken template gives.
fn render(name: &str, values: minijinja::Value) -> Response {
    match environment()
        .get_template(name)
        .and_then(|template| template.render(values))
    {
        Ok(page) => {
            let mut response = Html(page).into_response();
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, name, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

/// The value of cookie `name` in the request, if sent.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the request came over https (directly or through a proxy that says so).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure behind https; `max_age` 0
/// removes it.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if over_https(headers) {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize, Default)]
struct LanguageQuery {
    lang: Option<String>,
}

/// The page's language: a `?lang=` just chosen, the remembered cookie, `Accept-Language`.
fn language(headers: &HeaderMap, query: &LanguageQuery) -> (Language, bool) {
    if let Some(chosen) = query.lang.as_deref().and_then(Language::from_code) {
        return (chosen, true);
    }
    if let Some(remembered) = cookie(headers, LANGUAGE_COOKIE).and_then(Language::from_code) {
        return (remembered, false);
    }
    let accepted = headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    (Language::from_accept_language(accepted), false)
}

/// Remembers a language chosen by link for a year.
fn remember_language(
    response: &mut Response,
    headers: &HeaderMap,
    language: Language,
    chosen: bool,
) {
    if chosen {
        let value = set_cookie(headers, LANGUAGE_COOKIE, language.code(), Some(31_536_000));
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// What every page of a signed-in session shows: its language, words, user, form token and
/// the organisation's UTC offset (for the `when` filter).
fn signed_in(
    language: Language,
    session: &SessionHolder,
    offset: chrono::FixedOffset,
) -> minijinja::Value {
    context! {
        offset => offset.local_minus_utc(),
        lang => language.code(),
        t => words(language),
        user => context! { name => session.name, role => role_word(&session.principal, language), admin => session.principal.is_admin(), manages => session.principal.role() != allot_core::Role::Rep },
        csrf => session.csrf_token,
    }
}

/// A signed-in page being drawn: its language (and whether a link just chose it), the
/// session, and the message the last form left.
pub(crate) struct Page {
    pub(crate) language: Language,
    chosen: bool,
    pub(crate) session: SessionHolder,
    flash: Option<(minijinja::Value, HeaderValue)>,
    offset: chrono::FixedOffset,
}

impl Page {
    /// The page for the request's session, or the redirect to the login page.
    pub(crate) async fn open(
        state: &AppState,
        headers: &HeaderMap,
        lang: Option<String>,
    ) -> Result<Page, Response> {
        let (language, chosen) = language(headers, &LanguageQuery { lang });
        let Some(session) = session_of(state, headers).await else {
            let mut response = Redirect::to("/login").into_response();
            remember_language(&mut response, headers, language, chosen);
            return Err(response);
        };
        Ok(Page {
            language,
            chosen,
            session,
            flash: take_flash(headers),
            offset: state.clock.now().offset(),
        })
    }

    /// The page a form's post draws again (its problems beside what was sent), for the
    /// session [`checked_form`] found.
    pub(crate) fn after_form(state: &AppState, language: Language, session: SessionHolder) -> Page {
        Page {
            language,
            chosen: false,
            session,
            flash: None,
            offset: state.clock.now().offset(),
        }
    }

    /// A word of the page's language.
    pub(crate) fn word(&self, key: &str) -> &'static str {
        words(self.language).get(key).copied().unwrap_or_default()
    }

    /// What every signed-in page shows, with the last form's message.
    pub(crate) fn common(&self) -> minijinja::Value {
        context! {
            flash => self.flash.as_ref().map(|(message, _)| message.clone()),
            ..signed_in(self.language, &self.session, self.offset)
        }
    }

    /// Draws template `name` with `values` (which spread [`Page::common`]), clearing the shown
    /// message and remembering a language just chosen.
    pub(crate) fn render(
        self,
        headers: &HeaderMap,
        name: &str,
        values: minijinja::Value,
    ) -> Response {
        let mut response = render(name, values);
        if let Some((_, clear)) = self.flash {
            response.headers_mut().append(SET_COOKIE, clear);
        }
        remember_language(&mut response, headers, self.language, self.chosen);
        response
    }
}

/// The session of a form's post after checking the form's token: the language and session,
/// or the response that refuses it (to the login page without a session, 403 on a bad token).
pub(crate) async fn checked_form(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Language, SessionHolder), Response> {
    let (language, _) = language(headers, &LanguageQuery::default());
    let Some(session) = session_of(state, headers).await else {
        return Err(Redirect::to("/login").into_response());
    };
    if session.csrf_token != csrf {
        return Err((
            StatusCode::FORBIDDEN,
            "the form's token does not match this session",
        )
            .into_response());
    }
    Ok((language, session))
}

/// A redirect to `to` carrying a one-time message (`done` or `error`).
pub(crate) fn back_with(headers: &HeaderMap, to: &str, kind: &str, text: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    set_flash(&mut response, headers, kind, text);
    response
}

/// A store error as a form's one-time message: the refusal in words for what a user can
/// fix, or the error back for what they cannot (the caller answers it as the API would).
pub(crate) fn error_in_words(
    language: Language,
    error: allot_store::StoreError,
) -> Result<String, allot_store::StoreError> {
    use allot_store::StoreError;
    match error {
        StoreError::Denied { code, message } => Ok(refusal_in_words(language, code, message)),
        StoreError::ClaimRefused(refusal) => Ok(claim_refusal_in_words(language, &refusal)),
        StoreError::Invalid(error) => Ok(error.to_string()),
        StoreError::Conflict { message, .. }
        | StoreError::Refused { message, .. }
        | StoreError::Forbidden(message) => Ok(message),
        StoreError::InvalidRecord(errors) => Ok(errors.to_string()),
        StoreError::NotFound { entity, id } => Ok(words(language)
            .get("not_found")
            .copied()
            .unwrap_or_default()
            .replace("{what}", &format!("{entity} {id}"))),
        other => Err(other),
    }
}

/// A sentence of the catalogue with its `{name}` places filled.
pub(crate) fn filled(sentence: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(sentence.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

/// Answers a form's post with a redirect to `back`: on success the catalogue's sentence `done`
/// filled from what the step gave, otherwise the store's refusal in words (an error no user
/// can mend is answered as the API would).
pub(crate) fn answer_form<T>(
    headers: &HeaderMap,
    back: &str,
    language: Language,
    outcome: allot_store::StoreResult<T>,
    done: &str,
    values: impl FnOnce(&T) -> Vec<(&'static str, String)>,
) -> Response {
    match outcome {
        Ok(value) => {
            let sentence = words(language).get(done).copied().unwrap_or_default();
            back_with(headers, back, "done", &filled(sentence, &values(&value)))
        }
        Err(error) => match error_in_words(language, error) {
            Ok(text) => back_with(headers, back, "error", &text),
            Err(error) => crate::ApiError::from(error).into_response(),
        },
    }
}

/// A page's 404: the same answer for what does not exist and what is out of view.
pub(crate) fn not_found_page(page: Page, headers: &HeaderMap) -> Response {
    let values = context! { ..page.common() };
    let mut response = page.render(headers, "not_found.html", values);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// The 403 page answer when `principal`'s role is not among `allowed` (the same split as the
/// API's route table), `None` when it may go on.
pub(crate) fn refuse_role(
    principal: &Principal,
    allowed: crate::access::Allowed,
) -> Option<Response> {
    (!allowed.permits(principal.role())).then(|| {
        (
            StatusCode::FORBIDDEN,
            "your role may not do this; ask a manager or an admin",
        )
            .into_response()
    })
}

/// A stored RFC 3339 time as the organisation's calendar shows it (`YYYY-MM-DD HH:MM`), the
/// text as it is when it does not parse.
pub(crate) fn local_time(stored: &str, offset: chrono::FixedOffset) -> String {
    match chrono::DateTime::parse_from_rfc3339(stored) {
        Ok(time) => time
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => stored.to_string(),
    }
}

/// A number with thousands grouped as both of the UI's languages write them (`1,234,567.8`),
/// `decimals` after the point.
pub(crate) fn grouped(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "-".to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    if value < 0.0
        && out
            .chars()
            .any(|digit| digit.is_ascii_digit() && digit != '0')
    {
        out.insert(0, '-');
    }
    out
}

/// The session the request's cookie opens, if any.
async fn session_of(state: &AppState, headers: &HeaderMap) -> Option<SessionHolder> {
    let token = cookie(headers, SESSION_COOKIE)?;
    match state.store.session(token, state.clock.now()).await {
        Ok(holder) => holder,
        Err(error) => {
            tracing::warn!(%error, "session lookup failed");
            None
        }
    }
}

fn role_word(principal: &Principal, language: Language) -> &'static str {
    let key = match principal.role() {
        allot_core::Role::Admin => "role_admin",
        allot_core::Role::Manager => "role_manager",
        allot_core::Role::Rep => "role_rep",
    };
    words(language).get(key).copied().unwrap_or(key)
}

/// The dashboard for a session; the login page otherwise.
async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let dashboard = match dashboard(&state, &page.session.principal, page.language).await {
        Ok(dashboard) => dashboard,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let values = context! {
        dashboard => dashboard,
        ..page.common()
    };
    page.render(&headers, "home.html", values)
}

/// The dashboard's figures and charts over what `principal` sees: owned customers and
/// workload per rep and team, fairness per team with the Lorenz curve of workload, tiers and
/// their value share, RFM segments, open health alerts, the pool, transfers waiting.
async fn dashboard(
    state: &AppState,
    principal: &Principal,
    language: Language,
) -> allot_store::StoreResult<minijinja::Value> {
    let said = words(language);
    let word = |key: &str| said.get(key).copied().unwrap_or_default();
    let clock = state.clock.now();
    let view = state.store.view_of(principal, clock).await?;
    let narrowed = (!view.is_everything()).then_some(view);
    let workload = state
        .store
        .workload_report(clock, principal.visible_reps().as_ref())
        .await?;
    let value = state.store.value_report(narrowed.as_ref()).await?;
    let alerts = state
        .store
        .count_alerts(&allot_store::value::AlertFilter {
            view: narrowed.clone(),
            ..Default::default()
        })
        .await?;
    let pool_age = state.store.pool_age(clock).await?;
    let pool = pool_age.customers;
    // Open transfers in view; an inbox of more than 10,000 shows as 10,000.
    let transfers_waiting = state
        .store
        .list_transfers(
            principal,
            &allot_store::lifecycle::transfers::TransferFilter {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await?
        .iter()
        .filter(|transfer| transfer.state == "requested" || transfer.state == "approved")
        .count();
    let owned_bars: Vec<charts::Bar> = workload
        .reps
        .iter()
        .map(|rep| charts::Bar {
            label: format!("{} {}", rep.rep_id, rep.name),
            value: f64::from(rep.owned_count),
            shown: rep.owned_count.to_string(),
        })
        .collect();
    let team_bars: Vec<charts::Bar> = workload
        .teams
        .iter()
        .map(|team| charts::Bar {
            label: team.name.clone(),
            value: team.fairness.total_workload,
            shown: format!("{:.1}", team.fairness.total_workload),
        })
        .collect();
    let loads: Vec<f64> = workload
        .reps
        .iter()
        .filter(|rep| rep.available)
        .map(|rep| rep.total_workload)
        .collect();
    let lorenz_point = word("lorenz_point").to_string();
    let lorenz = charts::lorenz(word("lorenz_title"), &loads, |reps, share| {
        lorenz_point
            .replace("{reps}", &format!("{reps:.0}"))
            .replace("{share}", &format!("{share:.0}"))
    });
    let figure =
        |value: Option<f64>| value.map_or_else(|| "-".to_string(), |value| format!("{value:.3}"));
    let teams: Vec<minijinja::Value> = workload
        .teams
        .iter()
        .map(|team| {
            context! {
                name => team.name,
                reps => team.fairness.available_reps,
                workload => format!("{:.1}", team.fairness.total_workload),
                gini => figure(team.fairness.gini),
                jain => figure(team.fairness.jain),
            }
        })
        .collect();
    let tier_bars: Vec<charts::Bar> = value
        .tiers
        .iter()
        .map(|tier| charts::Bar {
            label: tier.tier.clone(),
            value: tier.customers as f64,
            shown: format!("{} · {:.0}%", tier.customers, tier.monetary_share * 100.0),
        })
        .collect();
    let segments: Vec<minijinja::Value> = value
        .segments
        .iter()
        .map(|(segment, customers)| context! { name => segment, customers => customers })
        .collect();
    let age_bars: Vec<charts::Bar> = [
        ("pool_under_7_days", pool_age.under_7_days),
        ("pool_7_to_30_days", pool_age.from_7_to_30_days),
        ("pool_30_to_90_days", pool_age.from_30_to_90_days),
        ("pool_over_90_days", pool_age.over_90_days),
    ]
    .into_iter()
    .map(|(key, customers)| charts::Bar {
        label: word(key).to_string(),
        value: customers as f64,
        shown: grouped(customers as f64, 0),
    })
    .collect();
    let scatter_points: Vec<charts::Point> = workload
        .reps
        .iter()
        .map(|rep| charts::Point {
            x: f64::from(rep.owned_count),
            y: rep.total_workload,
            shown: format!(
                "{} {}: {} · {:.1}",
                rep.rep_id, rep.name, rep.owned_count, rep.total_workload
            ),
        })
        .collect();
    let load_scatter = charts::scatter(
        word("owned_and_workload"),
        &scatter_points,
        (word("owned"), word("workload")),
        |value| grouped(value, 0),
    );
    Ok(context! {
        load_scatter => load_scatter,
        pool_age_chart => charts::bars(word("pool_age_title"), &age_bars),
        oldest_in_pool => pool_age.oldest_days,
        owned_chart => charts::bars(word("owned_by_rep"), &owned_bars),
        team_chart => charts::bars(word("workload_by_team"), &team_bars),
        lorenz_chart => lorenz,
        tier_chart => charts::bars(word("tiers_title"), &tier_bars),
        overall_gini => figure(workload.overall.gini),
        overall_jain => figure(workload.overall.jain),
        teams => teams,
        segments => segments,
        graded => value.customers,
        alerts => alerts,
        pool => pool,
        transfers_waiting => transfers_waiting,
    })
}

/// A message for the next page: its kind (`done` or `error`) and words, hex-encoded so any
/// text fits in a cookie.
fn set_flash(response: &mut Response, headers: &HeaderMap, kind: &str, text: &str) {
    let encoded: String = format!("{kind}:{text}")
        .bytes()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(headers, FLASH_COOKIE, &encoded, Some(60)),
    );
}

/// The message the last form left, and the header that clears it.
fn take_flash(headers: &HeaderMap) -> Option<(minijinja::Value, HeaderValue)> {
    let encoded = cookie(headers, FLASH_COOKIE)?;
    let bytes: Option<Vec<u8>> = (0..encoded.len())
        .step_by(2)
        .map(|at| {
            encoded
                .get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (kind, text) = text.split_once(':')?;
    let kind = if kind == "done" { "done" } else { "error" };
    Some((
        context! { kind => kind, text => text },
        set_cookie(headers, FLASH_COOKIE, "", Some(0)),
    ))
}

#[derive(Deserialize, Default)]
struct PoolQuery {
    page: Option<i64>,
    lang: Option<String>,
}

/// The pool as the session's principal sees it, a page at a time, with a claim button per
/// customer.
async fn pool_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PoolQuery>,
) -> Response {
    let shown = match Page::open(&state, &headers, query.lang.clone()).await {
        Ok(shown) => shown,
        Err(response) => return response,
    };
    let clock = state.clock.now();
    let page = query.page.unwrap_or(0).max(0);
    let listed = async {
        let view = state.store.view_of(&shown.session.principal, clock).await?;
        state
            .store
            .list_pool(
                &allot_store::customers::CustomerFilter {
                    view: (!view.is_everything()).then_some(view),
                    limit: POOL_PAGE,
                    offset: page * POOL_PAGE,
                    ..Default::default()
                },
                clock,
            )
            .await
    };
    let listed = match listed.await {
        Ok(listed) => listed,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let entries: Vec<minijinja::Value> = listed
        .items
        .iter()
        .map(|entry| {
            context! {
                id => entry.customer.id.as_str(),
                name => entry.customer.name,
                tier => entry.customer.tier.as_ref().map(|tier| tier.as_str().to_string()).unwrap_or_default(),
                region => entry.customer.region.to_string(),
                days => entry.days_in_pool.map(|days| days.to_string()).unwrap_or_default(),
                why => format!("{} · {}", entry.reason_kind, entry.reason),
            }
        })
        .collect();
    let values = context! {
        total => listed.total,
        entries => entries,
        previous => (page > 0).then_some(page - 1),
        next => ((page + 1) * POOL_PAGE < listed.total).then_some(page + 1),
        ..shown.common()
    };
    shown.render(&headers, "pool.html", values)
}

#[derive(Deserialize)]
struct ClaimForm {
    customer_id: String,
    csrf: String,
}

/// Claims a pool customer for the session's rep; back to the pool with what happened, the
/// refusal in words (and its numbers) when the pool's rules refused it.
async fn claim_from_pool(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ClaimForm>,
) -> Response {
    pool_step(
        &state,
        &headers,
        &form.csrf,
        &form.customer_id,
        PoolStep::Claim,
        "/pool",
    )
    .await
}

/// A step of the pool a form asks for: claim a customer, or release one with a reason.
enum PoolStep {
    Claim,
    Release { reason: String },
}

/// Takes a pool step for the session after checking the form's token, then redirects back
/// (claims to the pool, releases to the customers) with what happened as a one-time message:
/// done, or refused in words with the rule's numbers.
async fn pool_step(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    customer_id: &str,
    step: PoolStep,
    back_to: &str,
) -> Response {
    let (language, session) = match checked_form(state, headers, csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let said = words(language);
    let (done, refused) = match step {
        PoolStep::Claim => ("claimed", "claim_refused"),
        PoolStep::Release { .. } => ("released", "release_refused"),
    };
    let mut response = Redirect::to(back_to).into_response();
    let customer = match allot_core::CustomerId::parse(customer_id.trim()) {
        Ok(customer) => customer,
        Err(error) => {
            set_flash(&mut response, headers, "error", &error.to_string());
            return response;
        }
    };
    let word = |key: &str| said.get(key).copied().unwrap_or_default().to_string();
    let now = state.clock.now();
    let outcome = match &step {
        PoolStep::Claim => {
            state
                .store
                .claim(&session.principal, &customer, Some(&session.rep_id), now)
                .await
        }
        PoolStep::Release { reason } => {
            state
                .store
                .release(&session.principal, &customer, reason, now)
                .await
        }
    };
    let reason = match outcome {
        Ok(_) => {
            let text = word(done).replace("{customer}", customer.as_str());
            set_flash(&mut response, headers, "done", &text);
            return response;
        }
        Err(allot_store::StoreError::Denied { code, message }) => {
            refusal_in_words(language, code, message)
        }
        Err(allot_store::StoreError::ClaimRefused(refusal)) => {
            claim_refusal_in_words(language, &refusal)
        }
        Err(allot_store::StoreError::Invalid(error)) => error.to_string(),
        // Out of view is answered as if it did not exist; to a release, as not one's own.
        Err(allot_store::StoreError::NotFound { .. }) => match step {
            PoolStep::Claim => word("refusal_not_found"),
            PoolStep::Release { .. } => word("refusal_not_owner"),
        },
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let text = word(refused)
        .replace("{customer}", customer.as_str())
        .replace("{reason}", &reason);
    set_flash(&mut response, headers, "error", &text);
    response
}

#[derive(Deserialize, Default)]
struct CustomersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    pool: String,
    #[serde(default)]
    segment: String,
    page: Option<i64>,
    lang: Option<String>,
}

/// The filter a customers query asks for; the first bad field in words otherwise.
fn customer_filter(
    query: &CustomersQuery,
) -> Result<allot_store::customers::CustomerFilter, String> {
    let given = |text: &str| {
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    };
    let owner = given(&query.owner)
        .map(|raw| RepId::parse_field("owner", &raw))
        .transpose()
        .map_err(|error| error.to_string())?;
    let region = given(&query.region)
        .map(|raw| allot_core::Region::parse(&raw).map(|region| region.to_string()))
        .transpose()
        .map_err(|error| format!("region: {error}"))?;
    Ok(allot_store::customers::CustomerFilter {
        owner_id: owner,
        in_pool: match query.pool.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        tier: given(&query.tier).map(|tier| allot_core::TierName::from_stored(&tier)),
        region,
        search: given(&query.q),
        segment: given(&query.segment),
        limit: POOL_PAGE,
        offset: query.page.unwrap_or(0).max(0) * POOL_PAGE,
        view: None,
    })
}

/// Customers in the session's view: search by name, id or phone, filter by owner, tier,
/// region prefix and pool, a page at a time.
async fn customers_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CustomersQuery>,
) -> Response {
    let shown = match Page::open(&state, &headers, query.lang.clone()).await {
        Ok(shown) => shown,
        Err(response) => return response,
    };
    let session = &shown.session;
    let clock = state.clock.now();
    let page = query.page.unwrap_or(0).max(0);
    let (customers, total, error) = match customer_filter(&query) {
        Ok(mut filter) => {
            let found = async {
                let view = state.store.view_of(&session.principal, clock).await?;
                filter.view = (!view.is_everything()).then_some(view);
                state.store.list_customers(&filter).await
            };
            match found.await {
                Ok(found) => (found.items, found.total, None),
                Err(error) => return crate::ApiError::from(error).into_response(),
            }
        }
        Err(error) => (Vec::new(), 0, Some(error)),
    };
    let in_pool = shown.word("in_pool");
    let rows: Vec<minijinja::Value> = customers
        .iter()
        .map(|customer| {
            context! {
                id => customer.id.as_str(),
                name => customer.name,
                owner => customer.owner_id.as_ref().map_or_else(|| in_pool.to_string(), ToString::to_string),
                tier => customer.tier.as_ref().map(|tier| tier.as_str().to_string()).unwrap_or_default(),
                region => customer.region.to_string(),
                phone => customer.phone.as_ref().map(ToString::to_string).unwrap_or_default(),
                releasable => customer.owner_id.as_ref().is_some_and(|owner| {
                    session.principal.rep() == Some(owner)
                        || session.principal.role() != allot_core::Role::Rep
                            && session.principal.sees_rep(owner)
                }),
            }
        })
        .collect();
    // The filters again, for the paging links.
    let paging = query_string(&[
        ("q", &query.q),
        ("owner", &query.owner),
        ("tier", &query.tier),
        ("region", &query.region),
        ("pool", &query.pool),
        ("segment", &query.segment),
    ]);
    let values = context! {
        query => context! { q => query.q, owner => query.owner, tier => query.tier, region => query.region, pool => query.pool, segment => query.segment },
        customers => rows,
        total => total,
        error => error,
        paging => paging,
        previous => (page > 0).then_some(page - 1),
        next => ((page + 1) * POOL_PAGE < total).then_some(page + 1),
        ..shown.common()
    };
    shown.render(&headers, "customers.html", values)
}

#[derive(Deserialize)]
struct ReleaseForm {
    customer_id: String,
    reason: String,
    csrf: String,
}

/// Returns a customer to the pool with the reason given; back to the customers with what
/// happened, a refusal in words.
async fn release_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ReleaseForm>,
) -> Response {
    let step = PoolStep::Release {
        reason: form.reason,
    };
    pool_step(
        &state,
        &headers,
        &form.csrf,
        &form.customer_id,
        step,
        "/customers",
    )
    .await
}

/// `name=value&…` with each value percent-encoded.
fn query_string(pairs: &[(&str, &String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            let encoded: String = value
                .bytes()
                .map(|byte| match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (byte as char).to_string()
                    }
                    _ => format!("%{byte:02X}"),
                })
                .collect();
            format!("{name}={encoded}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A refusal of the pool's rules in the page's words (`refusal_<code>`), with the store's
/// message and its numbers after them.
fn refusal_in_words(language: Language, code: &str, message: String) -> String {
    match words(language).get(format!("refusal_{code}").as_str()) {
        Some(said) => format!("{said} ({message})"),
        None => message,
    }
}

/// A refused claim in the reader's language: the rule in words, then its own numbers and
/// dates in a sentence of the catalogue (`claim_refusal_*`), not the store's English.
fn claim_refusal_in_words(language: Language, refusal: &allot_core::pool::ClaimRefusal) -> String {
    let said = words(language);
    let (kind, values) = refusal.wording();
    let rule = said
        .get(format!("refusal_{}", refusal.code()).as_str())
        .copied()
        .unwrap_or_default();
    if values.is_empty() {
        return rule.to_string();
    }
    let Some(sentence) = said.get(format!("claim_refusal_{kind}").as_str()) else {
        return format!("{rule} ({})", refusal.message());
    };
    format!("{rule} ({})", filled(sentence, &values))
}

/// The login form, with a fresh value for its own cookie so a post from elsewhere is refused.
fn login_form(
    headers: &HeaderMap,
    language: Language,
    rep_id: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let csrf = allot_store::auth::generate_token();
    let mut response = render(
        "login.html",
        context! {
            lang => language.code(),
            t => words(language),
            csrf => csrf,
            rep_id => rep_id,
            error => error,
        },
    );
    *response.status_mut() = status;
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(headers, LOGIN_COOKIE, &csrf, Some(3600)),
    );
    response
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LanguageQuery>,
) -> Response {
    let (language, chosen) = language(&headers, &query);
    if session_of(&state, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    let mut response = login_form(&headers, language, "", None, StatusCode::OK);
    remember_language(&mut response, &headers, language, chosen);
    response
}

#[derive(Deserialize)]
struct LoginForm {
    rep_id: String,
    password: String,
    csrf: String,
}

async fn log_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let (language, _) = language(&headers, &LanguageQuery::default());
    let said = words(language);
    if cookie(&headers, LOGIN_COOKIE) != Some(form.csrf.as_str()) || form.csrf.is_empty() {
        let message = said
            .get("form_expired")
            .copied()
            .unwrap_or_default()
            .to_string();
        return login_form(
            &headers,
            language,
            &form.rep_id,
            Some(message),
            StatusCode::FORBIDDEN,
        );
    }
    let wrong = || {
        said.get("wrong_credentials")
            .copied()
            .unwrap_or_default()
            .to_string()
    };
    let Ok(rep) = RepId::parse(form.rep_id.trim()) else {
        return login_form(
            &headers,
            language,
            &form.rep_id,
            Some(wrong()),
            StatusCode::UNAUTHORIZED,
        );
    };
    let address = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    match state
        .store
        .log_in(&rep, &form.password, address.as_deref(), state.clock.now())
        .await
    {
        Ok(Ok(session)) => {
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().append(
                SET_COOKIE,
                set_cookie(&headers, SESSION_COOKIE, &session.token, None),
            );
            response
                .headers_mut()
                .append(SET_COOKIE, set_cookie(&headers, LOGIN_COOKIE, "", Some(0)));
            response
        }
        Ok(Err(LoginRefusal::WrongCredentials)) => login_form(
            &headers,
            language,
            &form.rep_id,
            Some(wrong()),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(Err(LoginRefusal::Locked { until })) => {
            let at = until
                .with_timezone(&state.clock.now().offset())
                .format("%Y-%m-%d %H:%M")
                .to_string();
            let message = said
                .get("locked")
                .copied()
                .unwrap_or_default()
                .replace("{until}", &at);
            login_form(
                &headers,
                language,
                &form.rep_id,
                Some(message),
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        Err(error) => crate::ApiError::from(error).into_response(),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn log_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(token) = cookie(&headers, SESSION_COOKIE) else {
        return Redirect::to("/login").into_response();
    };
    if let Some(session) = session_of(&state, &headers).await {
        if session.csrf_token != form.csrf {
            return (
                StatusCode::FORBIDDEN,
                "the form's token does not match this session",
            )
                .into_response();
        }
        if let Err(error) = state.store.log_out(token, state.clock.now()).await {
            return crate::ApiError::from(error).into_response();
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", Some(0)),
    );
    response
}

async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response
}

async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes_what_it_shows() {
        let mut environment = Environment::new();
        for (name, source) in TEMPLATES {
            environment
                .add_template(name, source)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
        }
        let page = environment
            .get_template("login.html")
            .unwrap()
            .render(context! {
                lang => "en",
                t => words(Language::English),
                csrf => "token",
                rep_id => "<script>alert(1)</script>",
                error => None::<String>,
            })
            .unwrap();
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains(r#"<label for="password">Password</label>"#),
            "{page}"
        );
    }

    #[test]
    fn a_refused_claim_is_worded_with_its_numbers_in_each_language() {
        use allot_core::pool::ClaimRefusal;
        let limit = ClaimRefusal::ClaimLimit {
            claims_today: 20,
            limit: 20,
        };
        assert_eq!(
            claim_refusal_in_words(Language::Chinese, &limit),
            "已达到今日认领上限 (今日已认领 20 次，每日上限 20 次)"
        );
        assert_eq!(
            claim_refusal_in_words(Language::English, &limit),
            "you reached today's claim limit (20 claims today; the limit is 20 a day)"
        );
        let cooldown = ClaimRefusal::Cooldown {
            lost_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            claimable_from: chrono::NaiveDate::from_ymd_opt(2026, 12, 20).unwrap(),
            how: "released by this rep",
        };
        assert!(claim_refusal_in_words(Language::Chinese, &cooldown)
            .ends_with("(你于 2026-11-20 退回了该客户，2026-12-20 起可再认领)"));
        let owned = ClaimRefusal::Owned { owner: None };
        assert_eq!(
            claim_refusal_in_words(Language::English, &owned),
            "someone owns this customer"
        );
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; allot_session=abc; allot_lang=en"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, LANGUAGE_COOKIE), Some("en"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
        let set = set_cookie(&headers, SESSION_COOKIE, "v", None);
        assert_eq!(
            set.to_str().unwrap(),
            "allot_session=v; Path=/; HttpOnly; SameSite=Lax"
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(set_cookie(&headers, SESSION_COOKIE, "v", None)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
    }
}
