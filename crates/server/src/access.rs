//! What each role may call: one row per route of the API (route × role), enforced by the token
//! middleware and printed in the README. A route without a row answers 403 to everyone, and a
//! test fails when a route of the OpenAPI document has no row.
//!
//! The table decides who may call a route at all; what a caller then sees is narrowed by view
//! (a rep: its own customers and the pool; a manager: its subtree's and the pool; an admin:
//! all), and a customer out of view answers 404 as if it did not exist.

use allot_core::model::Role;

/// Which roles may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Anyone, signed in or not (the login page, the assets).
    Anyone,
    /// Admins, managers and reps (each within its view).
    Everyone,
    /// Admins and managers (managers within their subtree).
    Managers,
    Admins,
}

impl Allowed {
    pub fn permits(self, role: Role) -> bool {
        match self {
            Allowed::Anyone | Allowed::Everyone => true,
            Allowed::Managers => matches!(role, Role::Admin | Role::Manager),
            Allowed::Admins => role == Role::Admin,
        }
    }
}

/// One route and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct RouteAccess {
    pub method: &'static str,
    pub path: &'static str,
    pub allowed: Allowed,
    /// What the view narrows, in a few words, for the README.
    pub scope: &'static str,
}

macro_rules! access_table {
    ($( $method:literal $path:literal => $allowed:ident, $scope:literal; )+) => {
        &[ $( RouteAccess { method: $method, path: $path, allowed: Allowed::$allowed, scope: $scope }, )+ ]
    };
}

/// Every `/api/v1` route and who may call it.
pub const ROUTE_ACCESS: &[RouteAccess] = access_table! {
    "GET" "/api/v1/customers" => Everyone, "customers in view (and their count)";
    "POST" "/api/v1/customers" => Everyone, "an owner only among the reps in view; reps none";
    "GET" "/api/v1/customers/{id}" => Everyone, "404 out of view";
    "PUT" "/api/v1/customers/{id}" => Everyone, "404 out of view; owner changes: admins, managers within subtree";
    "GET" "/api/v1/customers/{id}/decisions" => Everyone, "404 out of view";
    "GET" "/api/v1/customers/{id}/tickets" => Everyone, "404 out of view";
    "GET" "/api/v1/customers/{id}/activity" => Everyone, "404 out of view";
    "GET" "/api/v1/customers/{id}/value" => Everyone, "404 out of view";
    "POST" "/api/v1/customers/{id}/interactions" => Everyone, "404 out of view";
    "PUT" "/api/v1/customers/{id}/tier-override" => Managers, "404 out of view";
    "DELETE" "/api/v1/customers/{id}/tier-override" => Managers, "404 out of view";
    "POST" "/api/v1/customers/{id}/claim" => Everyone, "for oneself; admins and managers for a rep in view";
    "POST" "/api/v1/customers/{id}/release" => Everyone, "own customers; managers within subtree";
    "GET" "/api/v1/pool" => Everyone, "the pool";
    "GET" "/api/v1/events" => Everyone, "events of customers in view";
    "POST" "/api/v1/route" => Managers, "404 for a stored customer out of view; a duplicate's existing customer hidden when out of view";
    "GET" "/api/v1/rules" => Everyone, "-";
    "PUT" "/api/v1/rules" => Admins, "-";
    "GET" "/api/v1/rules/versions" => Everyone, "-";
    "POST" "/api/v1/rules/check" => Managers, "-";
    "POST" "/api/v1/rules/simulate" => Managers, "managers: their subtree's customers, teams and reps, and the pool";
    "POST" "/api/v1/rebalance" => Managers, "managers: their subtree's customers and reps; apply without approval: admins";
    "GET" "/api/v1/reports/workload" => Managers, "managers: their subtree's reps and teams";
    "GET" "/api/v1/reports/value" => Managers, "managers: customers in view (subtree and pool)";
    "GET" "/api/v1/reports/baseline" => Managers, "managers: customers in view (subtree and pool)";
    "GET" "/api/v1/reports/service" => Managers, "managers: customers in view (subtree and pool)";
    "GET" "/api/v1/reports/quadrant" => Managers, "managers: customers in view (subtree and pool)";
    "GET" "/api/v1/reports/performance" => Managers, "managers: the reps of their subtree";
    "GET" "/api/v1/service-alerts" => Managers, "managers: the tiers' and their subtree's teams and reps";
    "GET" "/api/v1/reps" => Everyone, "-";
    "GET" "/api/v1/reps/{id}" => Everyone, "-";
    "PUT" "/api/v1/reps/{id}" => Managers, "managers: capacity, weight, skills and absence of reps in their subtree";
    "PUT" "/api/v1/reps/{id}/password" => Admins, "-";
    "POST" "/api/v1/reps/{id}/deactivate" => Admins, "-";
    "GET" "/api/v1/teams" => Everyone, "-";
    "GET" "/api/v1/teams/{id}" => Everyone, "-";
    "PUT" "/api/v1/teams/{id}" => Admins, "-";
    "GET" "/api/v1/policy" => Everyone, "-";
    "PUT" "/api/v1/policy" => Admins, "-";
    "POST" "/api/v1/score" => Admins, "-";
    "POST" "/api/v1/tick" => Admins, "-";
    "GET" "/api/v1/invariants" => Admins, "-";
    "POST" "/api/v1/customers/{id}/forget" => Admins, "-";
    "POST" "/api/v1/transactions" => Managers, "404 for a customer out of view";
    "POST" "/api/v1/tickets" => Everyone, "404 for a customer out of view";
    "GET" "/api/v1/tickets" => Everyone, "tickets of customers in view";
    "GET" "/api/v1/tickets/{id}" => Everyone, "404 out of view";
    "POST" "/api/v1/tickets/{id}/respond" => Everyone, "404 out of view";
    "POST" "/api/v1/tickets/{id}/resolve" => Everyone, "404 out of view";
    "POST" "/api/v1/tickets/{id}/reopen" => Everyone, "404 out of view";
    "POST" "/api/v1/tickets/{id}/rating" => Everyone, "404 out of view";
    "GET" "/api/v1/calendar" => Everyone, "care tasks of customers in view";
    "POST" "/api/v1/tasks/{id}/complete" => Everyone, "404 out of view";
    "GET" "/api/v1/reps/{id}/calendar.ics" => Everyone, "one's own; managers their subtree's reps (404 others)";
    "GET" "/api/v1/alerts" => Everyone, "alerts of customers in view";
    "GET" "/api/v1/tier-events" => Everyone, "tier events of customers in view";
    "GET" "/api/v1/transfers" => Everyone, "transfers one requested, approves, receives or gives; managers within subtree";
    "POST" "/api/v1/transfers" => Everyone, "own customers; managers within subtree";
    "GET" "/api/v1/transfers/{id}" => Everyone, "404 out of view";
    "POST" "/api/v1/transfers/{id}/approve" => Everyone, "the approver it waits for (403 others)";
    "POST" "/api/v1/transfers/{id}/reject" => Everyone, "the approver it waits for (403 others)";
    "POST" "/api/v1/transfers/{id}/accept" => Everyone, "the new owner (403 others)";
    "POST" "/api/v1/transfers/{id}/decline" => Everyone, "the new owner (403 others)";
    "POST" "/api/v1/transfers/{id}/cancel" => Everyone, "the requester, or admins";
    "GET" "/api/v1/conflicts" => Everyone, "conflicts over customers in view, and those a rep in view brought (the existing customer hidden)";
    "GET" "/api/v1/conflicts/{id}" => Everyone, "404 out of view; the existing customer hidden when out of view";
    "POST" "/api/v1/conflicts/{id}/dispute" => Everyone, "the rep who brought the duplicate (403 others)";
    "POST" "/api/v1/conflicts/{id}/decide" => Managers, "the manager of the existing owner (403 others)";
    "POST" "/api/v1/conflicts/{id}/merge" => Managers, "the manager of the existing owner (403 others)";
    "GET" "/api/v1/notifications" => Everyone, "one's own (admins: those for admins)";
    "POST" "/api/v1/notifications/{id}/read" => Everyone, "one's own";
};

/// What a manager may change of a rep in its subtree: how much it takes and when it is away;
/// its team, role, level, name and active flag stay an admin's.
pub const MANAGER_REP_FIELDS: &[&str] = &[
    "id",
    "capacity",
    "weight",
    "skills",
    "absent_from",
    "absent_until",
];

/// Why `principal` may not make this change to rep `rep` (`exists`: the rep is stored), or
/// `None` when it may; the API and the reps page ask the same question.
pub fn rep_change_refusal(
    principal: &allot_core::access::Principal,
    rep: &allot_core::RepId,
    exists: bool,
    given: &allot_core::update::GivenColumns,
    given_names: &[&str],
) -> Option<String> {
    match principal.role() {
        Role::Admin => None,
        Role::Rep => Some("a rep changes no rep; ask a manager or an admin".to_string()),
        Role::Manager => {
            if !exists || !principal.sees_rep(rep) {
                return Some(format!(
                    "{rep} is outside your teams; a manager changes reps of its subtree"
                ));
            }
            given_names
                .iter()
                .find(|name| given.contains(name) && !MANAGER_REP_FIELDS.contains(name))
                .map(|name| format!("a manager does not change a rep's {name}; ask an admin"))
        }
    }
}

/// Who may call `method path` (the route's template, as the router matched it).
pub fn allowed(method: &str, path: &str) -> Option<Allowed> {
    ROUTE_ACCESS
        .iter()
        .find(|row| row.method == method && row.path == path)
        .map(|row| row.allowed)
}

/// Every page of the web UI (and its form posts) and who may open it, checked by the pages'
/// middleware before the handler: a role the row leaves out gets 403, and a page without a
/// row refuses everyone. The pages then narrow by view as the API does (404 out of view).
pub const PAGE_ACCESS: &[RouteAccess] = access_table! {
    "GET" "/" => Everyone, "dashboard: a rep's own book, a manager's subtree";
    "GET" "/customers" => Everyone, "customers in view";
    "POST" "/customers/release" => Everyone, "own customers; managers within subtree";
    "GET" "/customers/{id}" => Everyone, "404 out of view";
    "POST" "/customers/{id}/claim" => Everyone, "for oneself";
    "POST" "/customers/{id}/release" => Everyone, "own customers; managers within subtree";
    "POST" "/customers/{id}/transfer" => Everyone, "own customers; managers within subtree";
    "POST" "/customers/{id}/tier-override" => Managers, "404 out of view";
    "POST" "/customers/{id}/forget" => Admins, "-";
    "GET" "/pool" => Everyone, "the pool";
    "POST" "/pool/claim" => Everyone, "for oneself";
    "GET" "/transfers" => Everyone, "inboxes and transfers in view";
    "GET" "/transfers/{id}" => Everyone, "404 out of view";
    "POST" "/transfers/{id}/{action}" => Everyone, "the approver, the new owner, the requester, as the API";
    "GET" "/tickets" => Everyone, "tickets of customers in view";
    "GET" "/tickets/{id}" => Everyone, "404 out of view";
    "POST" "/tickets/{id}/{step}" => Everyone, "404 out of view";
    "GET" "/calendar" => Everyone, "care tasks of customers in view";
    "POST" "/calendar/{id}/complete" => Everyone, "404 out of view";
    "GET" "/service" => Managers, "managers: customers in view (subtree and pool)";
    "GET" "/rebalance" => Managers, "managers: their subtree";
    "POST" "/rebalance" => Managers, "plan and open transfers: managers within subtree; move at once: admins";
    "GET" "/rules" => Everyone, "read only for reps";
    "POST" "/rules" => Managers, "check: managers and admins; save: admins";
    "GET" "/reps" => Everyone, "reps in view";
    "GET" "/reps/{id}" => Everyone, "404 out of view";
    "POST" "/reps/{id}" => Managers, "managers: capacity, weight, skills and absence of reps in their subtree";
    "POST" "/reps/{id}/deactivate" => Admins, "-";
    "GET" "/teams/{id}" => Admins, "-";
    "POST" "/teams/{id}" => Admins, "-";
    "GET" "/import" => Admins, "-";
    "POST" "/import" => Admins, "-";
    "GET" "/login" => Anyone, "-";
    "POST" "/login" => Anyone, "-";
    "POST" "/logout" => Anyone, "-";
    "GET" "/assets/allot.css" => Anyone, "-";
    "GET" "/assets/allot.js" => Anyone, "-";
};

/// Who may open page `method path` (the route's template, as the router matched it).
pub fn page_allowed(method: &str, path: &str) -> Option<Allowed> {
    PAGE_ACCESS
        .iter()
        .find(|row| row.method == method && row.path == path)
        .map(|row| row.allowed)
}

/// The API's table as Markdown, as the README prints it.
pub fn access_table_markdown() -> String {
    table_markdown(ROUTE_ACCESS)
}

/// The pages' table as Markdown, as the README prints it.
pub fn page_table_markdown() -> String {
    table_markdown(PAGE_ACCESS)
}

fn table_markdown(rows: &[RouteAccess]) -> String {
    let mark = |allowed: Allowed, role: Role| match allowed {
        Allowed::Anyone => "✓ (no sign-in)",
        _ if allowed.permits(role) => "✓",
        _ => "403",
    };
    let mut text = String::from(
        "| Method | Route | admin | manager | rep | View |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        text.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} |\n",
            row.method,
            row.path,
            mark(row.allowed, Role::Admin),
            mark(row.allowed, Role::Manager),
            mark(row.allowed, Role::Rep),
            row.scope
        ));
    }
    text
}
