//! The facts the service reports and the daily service checks read, as of the clock: every
//! customer in a view with its owner, team, tier, value and how long it has been owned, its
//! interactions of the window, its purchases and its tickets.
//!
//! At a million customers and five million interactions this reading is nearly all of a
//! report's time, so on SQLite the large reads run on the connection's own handle
//! (`database::direct`), are joined to the facts by [`FactsFinder`] (fastest when they come
//! in customer order, as the large ones do), and a report splits them over two connections
//! read at once.

use std::collections::HashMap;

use allot_core::activity::{InteractionKind, TicketKind, TicketSeverity};
use allot_core::service::report::{LastOfKind, ServiceFacts, TicketFacts};
use allot_core::service::{ticket_standing, TicketTimes};
use allot_core::value::ValuePolicy;
use chrono::{DateTime, Duration, Utc};

use crate::database::direct::{
    read_all_rows, stored_time_column, with_direct_sqlite, with_two_direct_sqlite,
};
use crate::database::pieces::StatementPieces;
use crate::database::time::parse_stored_time;
use crate::database::{on_backend, sql, Connected, Connection, ReadTransaction};
use crate::error::{StoreError, StoreResult};
use crate::lifecycle::View;
use crate::StoredTime;
use sqlx::{Postgres, Sqlite};

/// The times a reading of the facts is made against.
#[derive(Clone, Copy)]
struct Window {
    now: DateTime<Utc>,
    /// The start of the report window: effort counts from here.
    start: DateTime<Utc>,
    /// A customer created since counts as new.
    new_since: DateTime<Utc>,
}

impl Window {
    fn new(policy: &ValuePolicy, now: DateTime<Utc>) -> Self {
        Window {
            now,
            start: now - Duration::days(i64::from(policy.service.window_days)),
            new_since: now - Duration::days(i64::from(policy.service.new_customer_days)),
        }
    }
}

/// Every customer in `view` with what the reports need, as of `now`, read on one connection
/// (and so in one transaction: the daily checks read what the tick's transaction sees).
pub(super) async fn service_facts(
    source: &mut impl Connected,
    policy: &ValuePolicy,
    view: Option<&View>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<ServiceFacts>> {
    let window = Window::new(policy, now);
    let mut facts = read_customer_facts(&mut *source, policy, view, window).await?;
    let mut finder = FactsFinder::new(&mut facts);
    match source.connection() {
        Connection::Sqlite(connection) => {
            with_direct_sqlite(connection, |direct| {
                fold_interactions_on_sqlite(direct, policy, window, |customer_id, interactions| {
                    if let Some(facts) = finder.find(customer_id) {
                        interactions.apply_to(facts);
                    }
                    Ok(())
                })
            })
            .await?;
        }
        Connection::Postgres(connection) => {
            let totals: Vec<InteractionTotals> = interaction_totals_statement(policy, window)
                .for_postgres()
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
            for total in totals {
                if let Some(facts) = finder.find(&total.customer_id) {
                    total.facts().apply_to(facts);
                }
            }
        }
    }
    let tickets: Vec<TicketRow> = read_all_rows(
        &mut *source,
        tickets_of_window(window),
        ticket_of_direct_row,
        Ok,
    )
    .await?;
    let mut tickets = tickets
        .into_iter()
        .map(|ticket| ticket.facts(policy, now))
        .collect::<StoreResult<Vec<_>>>()?;
    // By customer, so that each is found just after the one before (in the order read within a
    // customer, as before).
    tickets.sort_by(|left, right| left.0.cmp(&right.0));
    add_purchases_and_tickets(source, window, &mut facts, tickets).await?;
    Ok(facts)
}

/// The same facts for a report, read on `read` and, on SQLite, on `second` at once when there
/// is one ([`Database::begin_two_reads`]): the customers on the first, the interactions and
/// tickets on the second, each on a core of its own. The two snapshots are taken one statement
/// apart, so a report may see a customer's interactions one write newer than its owner; the
/// daily checks, which raise alerts, read in one transaction ([`service_facts`]).
///
/// [`Database::begin_two_reads`]: crate::database::Database::begin_two_reads
pub(super) async fn service_facts_for_report(
    read: &mut ReadTransaction,
    second: Option<ReadTransaction>,
    policy: &ValuePolicy,
    view: Option<&View>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<ServiceFacts>> {
    let Some(mut second) = second else {
        return service_facts(read, policy, view, now).await;
    };
    let (Connection::Sqlite(first_connection), Connection::Sqlite(second_connection)) =
        (read.connection(), second.connection())
    else {
        return service_facts(read, policy, view, now).await;
    };
    let window = Window::new(policy, now);
    let customers = CustomerStatement::new(view);
    let (mut facts, (interactions, tickets)) = with_two_direct_sqlite(
        first_connection,
        second_connection,
        |direct| customers.facts_on_sqlite(direct, policy, window),
        |direct| {
            let mut interactions: Vec<(String, InteractionFacts)> = Vec::new();
            fold_interactions_on_sqlite(direct, policy, window, |customer_id, facts| {
                interactions.push((customer_id.to_string(), facts));
                Ok(())
            })?;
            let (statement, values) = tickets_of_window(window).for_sqlite();
            let mut prepared = direct.prepare(&statement)?;
            let mut rows = prepared.query(rusqlite::params_from_iter(values.iter()))?;
            let mut tickets = Vec::new();
            while let Some(row) = rows.next()? {
                tickets.push(ticket_of_direct_row(row)?.facts(policy, now)?);
            }
            tickets.sort_by(|left, right| left.0.cmp(&right.0));
            Ok((interactions, tickets))
        },
    )
    .await?;
    drop(second);
    let mut finder = FactsFinder::new(&mut facts);
    for (customer_id, interactions) in interactions {
        if let Some(facts) = finder.find(&customer_id) {
            interactions.apply_to(facts);
        }
    }
    add_purchases_and_tickets(read, window, &mut facts, tickets).await?;
    Ok(facts)
}

/// Adds each customer's purchases of the window and its tickets (sorted by customer).
async fn add_purchases_and_tickets(
    source: &mut impl Connected,
    window: Window,
    facts: &mut [ServiceFacts],
    tickets: Vec<(String, TicketFacts)>,
) -> StoreResult<()> {
    let purchases: Vec<(String, i64, Option<StoredTime>)> = on_backend!(
        &mut *source,
        |connection, Db| {
            sql!(Db; "SELECT customer_id, CAST(COALESCE(SUM(CASE WHEN at >= ", bind(StoredTime(window.start)),
            " THEN amount_minor ELSE 0 END), 0) AS BIGINT), MIN(CASE WHEN amount_minor > 0 THEN at END) FROM transactions WHERE at <= ",
            bind(StoredTime(window.now)), " GROUP BY customer_id")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
        }
    );
    let mut finder = FactsFinder::new(facts);
    for (customer_id, revenue_minor, first_purchase) in purchases {
        if let Some(facts) = finder.find(&customer_id) {
            facts.revenue_minor = revenue_minor;
            facts.first_purchase = first_purchase.map(|time| time.0);
        }
    }
    let mut finder = FactsFinder::new(facts);
    for (customer_id, ticket) in tickets {
        if let Some(facts) = finder.find(&customer_id) {
            facts.tickets.push(ticket);
        }
    }
    Ok(())
}

/// Finds customers' facts in facts sorted by id, for ids asked in any order. The large reads
/// on SQLite come in id order, so it looks just after the last one found before it searches: a
/// binary search of a million ids for each of a million customers was a fifth of the service
/// report's time.
struct FactsFinder<'f> {
    facts: &'f mut [ServiceFacts],
    /// Every fact before this one sorts before the id last asked for.
    next: usize,
}

impl<'f> FactsFinder<'f> {
    fn new(facts: &'f mut [ServiceFacts]) -> Self {
        FactsFinder { facts, next: 0 }
    }

    /// The facts of `customer_id`, whatever order the ids are asked in.
    fn find(&mut self, customer_id: &str) -> Option<&mut ServiceFacts> {
        let after_last = match self.next.checked_sub(1) {
            None => true,
            Some(before) => self
                .facts
                .get(before)
                .is_some_and(|before| before.customer_id.as_str() < customer_id),
        };
        if !after_last {
            let position = self.facts[..self.next]
                .binary_search_by(|facts| facts.customer_id.as_str().cmp(customer_id))
                .ok()?;
            return self.facts.get_mut(position);
        }
        let from = self.next;
        // Galloping: the id is most often the next one, or a few after it.
        let rest = &self.facts[from..];
        let mut bound = 1;
        while bound < rest.len() && rest[bound].customer_id.as_str() < customer_id {
            bound *= 2;
        }
        let low = bound / 2;
        let high = (bound + 1).min(rest.len());
        let found =
            rest[low..high].binary_search_by(|facts| facts.customer_id.as_str().cmp(customer_id));
        match found {
            Ok(offset) => {
                let position = from + low + offset;
                self.next = position + 1;
                self.facts.get_mut(position)
            }
            Err(offset) => {
                self.next = from + low + offset;
                None
            }
        }
    }
}

#[derive(sqlx_macros::FromRow)]
struct CustomerRow {
    id: String,
    owner_id: Option<String>,
    team_id: Option<String>,
    tier: Option<String>,
    stage: Option<String>,
    score: Option<f64>,
    created_at: Option<StoredTime>,
    owned_since: Option<StoredTime>,
}

impl CustomerRow {
    /// The customer's facts before its interactions, purchases and tickets are added.
    fn into_facts(self, policy: &ValuePolicy, window: Window) -> ServiceFacts {
        ServiceFacts {
            is_new: self
                .stage
                .as_ref()
                .is_some_and(|stage| policy.service.new_customer_stages.contains(stage))
                || self
                    .created_at
                    .is_some_and(|created| created.0 >= window.new_since),
            customer_id: self.id,
            owner_id: self.owner_id,
            team_id: self.team_id,
            tier: self.tier,
            value: self.score.unwrap_or(0.0),
            owned_since: self.owned_since.or(self.created_at).map(|time| time.0),
            ..Default::default()
        }
    }

    /// A row of [`EVERY_CUSTOMER_READ_ON_SQLITE`] or [`CUSTOMER_IN_VIEW_READ_ON_SQLITE`].
    fn of_direct_row(row: &rusqlite::Row<'_>) -> StoreResult<CustomerRow> {
        Ok(CustomerRow {
            id: row.get(0)?,
            owner_id: row.get(1)?,
            team_id: row.get(2)?,
            tier: row.get(3)?,
            stage: row.get(4)?,
            score: row.get(5)?,
            created_at: stored_time_column(row, 6)?.map(StoredTime),
            owned_since: stored_time_column(row, 7)?.map(StoredTime),
        })
    }
}

/// The customers' columns the reports read, each customer's newest ownership event looked up
/// on its own (PostgreSQL).
const CUSTOMER_READ: &str =
    "SELECT c.id, c.owner_id, r.team_id, c.tier, c.stage, v.score, c.created_at, \
    (SELECT MAX(e.at) FROM events AS e WHERE e.customer_id = c.id AND e.kind LIKE 'ownership.%') AS owned_since \
    FROM customers AS c LEFT JOIN reps AS r ON r.id = c.owner_id \
    LEFT JOIN customer_values AS v ON v.customer_id = c.id WHERE 1 = 1";

/// The same columns on SQLite for the customers in a view, each one's team from the reps
/// rather than a join (a lookup per customer in the reps' index).
const CUSTOMER_IN_VIEW_READ_ON_SQLITE: &str =
    "SELECT c.id, c.owner_id, NULL, c.tier, c.stage, v.score, c.created_at, \
    (SELECT MAX(e.at) FROM events AS e WHERE e.customer_id = c.id AND e.kind LIKE 'ownership.%') AS owned_since \
    FROM customers AS c LEFT JOIN customer_values AS v ON v.customer_id = c.id WHERE 1 = 1";

/// The same for every customer without either join: the teams come from the reps, the scores
/// from a read of their own ([`SCORE_READ`]), the newest ownership events from one grouped read
/// of the log ([`OWNED_SINCE_READ`]). A million lookups in the two joined tables' indexes took
/// two thirds of the statement (SQLite shell, 1,000,000 customers: 2.55 s against 0.51 s
/// without them, and 0.14 s for the scores alone); a million lookups of one customer's events
/// twice as long as the grouped read (2.8 s against 1.9 s).
const EVERY_CUSTOMER_READ_ON_SQLITE: &str =
    "SELECT c.id, c.owner_id, NULL, c.tier, c.stage, NULL, c.created_at, NULL FROM customers AS c";

/// Each customer's newest ownership event.
const OWNED_SINCE_READ: &str = "SELECT customer_id, MAX(at) FROM events \
    WHERE kind LIKE 'ownership.%' GROUP BY customer_id";

/// Each graded customer's score, in the table's order, which is mostly the customers' (the
/// first grading writes them in customer order; customers graded later come at the end):
/// SQLite would otherwise read the narrower covering index of the value report, in the order
/// of tiers, where each customer is found by a search of its own.
const SCORE_READ: &str = "SELECT customer_id, score FROM customer_values NOT INDEXED";

/// The customers' statement of a view on SQLite, built before the reading moves to the
/// connection's handle.
struct CustomerStatement {
    statement: String,
    values: Vec<String>,
    every_customer: bool,
}

impl CustomerStatement {
    fn new(view: Option<&View>) -> Self {
        let view_reps = View::rep_list(view);
        let mut query = sql!(Sqlite; if view.is_none() {
            EVERY_CUSTOMER_READ_ON_SQLITE
        } else {
            CUSTOMER_IN_VIEW_READ_ON_SQLITE
        });
        crate::lifecycle::push_in_view!(query, view, view_reps.as_deref(), "c.id", "c.owner_id");
        CustomerStatement {
            statement: query.sql().to_string(),
            values: crate::lifecycle::in_view_values(view, view_reps.as_deref()),
            every_customer: view.is_none(),
        }
    }

    /// The customers' facts, sorted by id, each with its team from the reps and, with no view,
    /// its score and newest ownership event from reads of their own.
    fn facts_on_sqlite(
        &self,
        direct: &rusqlite::Connection,
        policy: &ValuePolicy,
        window: Window,
    ) -> StoreResult<Vec<ServiceFacts>> {
        let teams: HashMap<String, Option<String>> = direct
            .prepare("SELECT id, team_id FROM reps")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut prepared = direct.prepare(&self.statement)?;
        let mut rows = prepared.query(rusqlite::params_from_iter(self.values.iter()))?;
        let mut facts = Vec::new();
        while let Some(row) = rows.next()? {
            let mut customer = CustomerRow::of_direct_row(row)?;
            customer.team_id = customer
                .owner_id
                .as_ref()
                .and_then(|owner| teams.get(owner).cloned().flatten());
            facts.push(customer.into_facts(policy, window));
        }
        facts.sort_unstable_by(|left, right| left.customer_id.cmp(&right.customer_id));
        if self.every_customer {
            add_by_customer(direct, SCORE_READ, &mut facts, |facts, row| {
                facts.value = row.get::<_, Option<f64>>(1)?.unwrap_or(0.0);
                Ok(())
            })?;
            // Grouped by customer, so in id order.
            add_by_customer(direct, OWNED_SINCE_READ, &mut facts, |facts, row| {
                if let Some(owned_since) = stored_time_column(row, 1)? {
                    facts.owned_since = Some(owned_since);
                }
                Ok(())
            })?;
        }
        Ok(facts)
    }
}

/// Every customer in `view`, sorted by id, with its facts before interactions, purchases and
/// tickets. On SQLite the rows are read on the connection's own handle (a million rows handed
/// one by one from sqlx's worker thread cost four times the query), and each customer's team,
/// score and (with no view) newest ownership event are found by reads of their own rather than
/// a lookup per customer (measured on SQLite only, so PostgreSQL keeps its joins).
async fn read_customer_facts(
    source: &mut impl Connected,
    policy: &ValuePolicy,
    view: Option<&View>,
    window: Window,
) -> StoreResult<Vec<ServiceFacts>> {
    match source.connection() {
        Connection::Sqlite(connection) => {
            let customers = CustomerStatement::new(view);
            with_direct_sqlite(connection, |direct| {
                customers.facts_on_sqlite(direct, policy, window)
            })
            .await
        }
        Connection::Postgres(connection) => {
            let view_reps = View::rep_list(view);
            let mut query = sql!(Postgres; CUSTOMER_READ);
            crate::lifecycle::push_in_view!(
                query,
                view,
                view_reps.as_deref(),
                "c.id",
                "c.owner_id"
            );
            let rows: Vec<CustomerRow> = query.build_query_as().fetch_all(&mut *connection).await?;
            let mut facts: Vec<ServiceFacts> = rows
                .into_iter()
                .map(|row| row.into_facts(policy, window))
                .collect();
            facts.sort_unstable_by(|left, right| left.customer_id.cmp(&right.customer_id));
            Ok(facts)
        }
    }
}

/// Runs `statement` on SQLite's handle and gives each row whose first column names a customer
/// in `facts` to `add` with that customer's facts.
fn add_by_customer(
    direct: &rusqlite::Connection,
    statement: &str,
    facts: &mut [ServiceFacts],
    add: impl Fn(&mut ServiceFacts, &rusqlite::Row<'_>) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut finder = FactsFinder::new(facts);
    let mut prepared = direct.prepare(statement)?;
    let mut rows = prepared.query([])?;
    while let Some(row) = rows.next()? {
        let customer_id = row
            .get_ref(0)?
            .as_str()
            .map_err(|error| StoreError::Corrupt(format!("a customer id: {error}")))?;
        if let Some(facts) = finder.find(customer_id) {
            add(facts, row)?;
        }
    }
    Ok(())
}

/// What the reports need of one customer's interactions.
#[derive(Debug, Clone, Copy, Default)]
struct InteractionFacts {
    /// Interactions and their minutes within the window.
    interactions: u32,
    minutes: f64,
    last_real: Option<DateTime<Utc>>,
    last_of_kind: LastOfKind,
}

impl InteractionFacts {
    fn apply_to(self, facts: &mut ServiceFacts) {
        facts.interactions = self.interactions;
        facts.minutes = self.minutes;
        facts.last_real_follow_up = self.last_real;
        facts.last_of_kind = self.last_of_kind;
    }
}

/// One customer's interactions grouped by PostgreSQL.
#[derive(sqlx_macros::FromRow)]
struct InteractionTotals {
    customer_id: String,
    interactions: i64,
    minutes: f64,
    last_real: Option<StoredTime>,
    last_call: Option<StoredTime>,
    last_visit: Option<StoredTime>,
    last_email: Option<StoredTime>,
    last_meeting: Option<StoredTime>,
    last_message: Option<StoredTime>,
}

impl InteractionTotals {
    fn facts(&self) -> InteractionFacts {
        let mut last_of_kind = LastOfKind::default();
        for (kind, last) in [
            (InteractionKind::Call, self.last_call),
            (InteractionKind::Visit, self.last_visit),
            (InteractionKind::Email, self.last_email),
            (InteractionKind::Meeting, self.last_meeting),
            (InteractionKind::Message, self.last_message),
        ] {
            if let Some(last) = last {
                last_of_kind.set(kind, last.0);
            }
        }
        InteractionFacts {
            interactions: u32::try_from(self.interactions).unwrap_or(u32::MAX),
            minutes: self.minutes,
            last_real: self.last_real.map(|time| time.0),
            last_of_kind,
        }
    }
}

/// The interactions grouped by customer, as PostgreSQL reads them.
fn interaction_totals_statement(policy: &ValuePolicy, window: Window) -> StatementPieces {
    let mut pieces = StatementPieces::default();
    pieces
        .sql("SELECT customer_id, CAST(SUM(CASE WHEN at >= ")
        .time(window.start)
        .sql(" THEN 1 ELSE 0 END) AS BIGINT) AS interactions, CAST(COALESCE(SUM(CASE WHEN at >= ")
        .time(window.start)
        .sql(" THEN minutes ELSE 0 END), 0) AS DOUBLE PRECISION) AS minutes, MAX(CASE WHEN (1 = 0");
    pieces
        .real_follow_up_terms("", &policy.pool.real_follow_up)
        .sql(") THEN at END) AS last_real");
    for kind in InteractionKind::ALL {
        pieces.sql(format!(
            ", MAX(CASE WHEN kind = '{}' THEN at END) AS last_{}",
            kind.as_str(),
            kind.as_str()
        ));
    }
    pieces
        .sql(" FROM interactions WHERE at <= ")
        .time(window.now)
        .sql(" GROUP BY customer_id");
    pieces
}

/// One customer's interactions as the ordered scan has seen them so far; the times as stored
/// text in buffers kept from customer to customer.
#[derive(Default)]
struct CustomerInteractions {
    customer_id: String,
    interactions: i64,
    minutes: f64,
    last_real: Option<String>,
    /// In the order of [`InteractionKind::ALL`].
    last_of_kind: [Option<String>; 5],
}

impl CustomerInteractions {
    fn start(&mut self, customer_id: &str) {
        self.customer_id.clear();
        self.customer_id.push_str(customer_id);
        self.interactions = 0;
        self.minutes = 0.0;
        self.last_real = None;
        self.last_of_kind = Default::default();
    }

    fn facts(&self) -> StoreResult<InteractionFacts> {
        let time = |text: &Option<String>| {
            text.as_deref()
                .map(parse_stored_time)
                .transpose()
                .map_err(StoreError::Corrupt)
        };
        let mut last_of_kind = LastOfKind::default();
        for (kind, last) in InteractionKind::ALL.into_iter().zip(&self.last_of_kind) {
            if let Some(last) = time(last)? {
                last_of_kind.set(kind, last);
            }
        }
        Ok(InteractionFacts {
            interactions: u32::try_from(self.interactions).unwrap_or(u32::MAX),
            minutes: self.minutes,
            last_real: time(&self.last_real)?,
            last_of_kind,
        })
    }
}

/// Replaces a kept text with `text`, reusing its buffer.
fn set_text(kept: &mut Option<String>, text: &str) {
    match kept {
        Some(buffer) => {
            buffer.clear();
            buffer.push_str(text);
        }
        None => *kept = Some(text.to_string()),
    }
}

/// Gives `each` every customer's interactions up to the clock, in customer order: folded here
/// from an ordered scan of the covering index (migration 0020), as SQLite's grouping evaluated
/// the nine expressions per interaction at twice the scan's cost. Times compare as their
/// stored text, as SQLite compares them.
fn fold_interactions_on_sqlite(
    direct: &rusqlite::Connection,
    policy: &ValuePolicy,
    window: Window,
    mut each: impl FnMut(&str, InteractionFacts) -> StoreResult<()>,
) -> StoreResult<()> {
    let window_start = StoredTime(window.start).text();
    let until = StoredTime(window.now).text();
    let real_follow_up = &policy.pool.real_follow_up;
    let mut prepared = direct.prepare(
        "SELECT customer_id, at, kind, outcome, minutes FROM interactions WHERE at <= ? \
         ORDER BY customer_id, at, kind, outcome, minutes",
    )?;
    let mut rows = prepared.query([until.as_str()])?;
    let mut current = CustomerInteractions::default();
    while let Some(row) = rows.next()? {
        let text = |index| {
            row.get_ref(index)?
                .as_str()
                .map_err(|error| StoreError::Corrupt(format!("an interaction's text: {error}")))
        };
        let customer_id = text(0)?;
        let at = text(1)?;
        let kind = text(2)?;
        let outcome = text(3)?;
        if current.customer_id != customer_id {
            if !current.customer_id.is_empty() {
                each(&current.customer_id, current.facts()?)?;
            }
            current.start(customer_id);
        }
        if at >= window_start.as_str() {
            current.interactions += 1;
            current.minutes += row.get::<_, f64>(4)?;
        }
        let real = real_follow_up.iter().any(|real| {
            real.kind.as_str() == kind
                && real
                    .outcome
                    .as_deref()
                    .is_none_or(|wanted| wanted == outcome)
        });
        if real {
            set_text(&mut current.last_real, at);
        }
        if let Some(position) = InteractionKind::ALL
            .iter()
            .position(|known| known.as_str() == kind)
        {
            set_text(&mut current.last_of_kind[position], at);
        }
    }
    if !current.customer_id.is_empty() {
        each(&current.customer_id, current.facts()?)?;
    }
    Ok(())
}

/// The tickets opened within the window, and the older ones still open.
fn tickets_of_window(window: Window) -> StatementPieces {
    let mut pieces = StatementPieces::default();
    pieces
        .sql("SELECT customer_id, opened_at, kind, severity, first_response_at, resolved_at, closed_at, reopened_at, tier, rating FROM tickets WHERE opened_at <= ")
        .time(window.now)
        .sql(" AND (opened_at >= ")
        .time(window.start)
        .sql(" OR (closed_at IS NULL AND resolved_at IS NULL))");
    pieces
}

#[derive(sqlx_macros::FromRow)]
struct TicketRow {
    customer_id: String,
    opened_at: StoredTime,
    kind: String,
    severity: String,
    first_response_at: Option<StoredTime>,
    resolved_at: Option<StoredTime>,
    closed_at: Option<StoredTime>,
    reopened_at: Option<StoredTime>,
    tier: Option<String>,
    rating: Option<i64>,
}

/// A row of [`tickets_of_window`] read on SQLite's handle.
fn ticket_of_direct_row(row: &rusqlite::Row<'_>) -> StoreResult<TicketRow> {
    let time = |index| stored_time_column(row, index).map(|time| time.map(StoredTime));
    Ok(TicketRow {
        customer_id: row.get(0)?,
        opened_at: time(1)?
            .ok_or_else(|| StoreError::Corrupt("a ticket without its opening".to_string()))?,
        kind: row.get(2)?,
        severity: row.get(3)?,
        first_response_at: time(4)?,
        resolved_at: time(5)?,
        closed_at: time(6)?,
        reopened_at: time(7)?,
        tier: row.get(8)?,
        rating: row.get(9)?,
    })
}

impl TicketRow {
    /// The ticket as the reports see it, its due times from its tier's promises, with its
    /// customer.
    fn facts(self, policy: &ValuePolicy, now: DateTime<Utc>) -> StoreResult<(String, TicketFacts)> {
        let corrupt = |error: allot_core::FieldError| StoreError::Corrupt(error.to_string());
        let severity = TicketSeverity::parse_field("severity", &self.severity).map_err(corrupt)?;
        let kind = TicketKind::parse_field("kind", &self.kind).map_err(corrupt)?;
        let resolved_at = self.resolved_at.or(self.closed_at).map(|time| time.0);
        let times = TicketTimes {
            opened_at: self.opened_at.0,
            severity,
            first_response_at: self.first_response_at.map(|time| time.0),
            resolved_at,
            reopened_at: self.reopened_at.map(|time| time.0),
        };
        let standing = ticket_standing(&policy.service, self.tier.as_deref(), &times, now, 0);
        Ok((
            self.customer_id,
            TicketFacts {
                opened_at: times.opened_at,
                kind,
                answered_at: times.first_response_at.or(resolved_at),
                resolved_at,
                first_response_due: standing.first_response_due,
                resolution_due: standing.resolution_due,
                rating: self.rating.and_then(|rating| u8::try_from(rating).ok()),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asks a finder over `ids` (sorted) for each of `asked` in turn, against a binary search.
    fn check(ids: &[&str], asked: &[&str]) {
        let mut facts: Vec<ServiceFacts> = ids
            .iter()
            .map(|id| ServiceFacts {
                customer_id: id.to_string(),
                ..Default::default()
            })
            .collect();
        let mut finder = FactsFinder::new(&mut facts);
        let found: Vec<Option<String>> = asked
            .iter()
            .map(|id| finder.find(id).map(|facts| facts.customer_id.clone()))
            .collect();
        let expected: Vec<Option<String>> = asked
            .iter()
            .map(|id| {
                ids.binary_search(id)
                    .ok()
                    .map(|position| ids[position].to_string())
            })
            .collect();
        assert_eq!(found, expected, "ids {ids:?}, asked {asked:?}");
    }

    #[test]
    fn the_finder_finds_every_customer_in_any_order_and_no_other() {
        let ids: Vec<String> = (0..100).map(|number| format!("c{number:03}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let reversed: Vec<&str> = ids.iter().rev().copied().collect();
        let every_seventh: Vec<&str> = ids.iter().step_by(7).copied().collect();
        let shuffled: Vec<&str> = (0..100).map(|number| ids[(number * 37) % 100]).collect();
        let cases: Vec<(&[&str], Vec<&str>)> = vec![
            (&[], vec!["c000", "a"]),
            (&["c1"], vec!["c1", "c1", "c0", "c2", "c1"]),
            (&ids, ids.clone()),
            (&ids, reversed),
            (&ids, every_seventh),
            (&ids, shuffled),
            // Misses between, before and after the ids, and ids asked twice.
            (
                &ids,
                vec![
                    "b", "c000", "c000x", "c001", "c050", "c050", "c049", "c099", "d", "c098",
                ],
            ),
        ];
        for (ids, asked) in cases {
            check(ids, &asked);
        }
    }
}
