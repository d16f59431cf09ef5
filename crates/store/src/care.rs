//! The care calendar (关怀日历): the daily job that plans each owned customer's care tasks
//! (`allot_core::service::care`), closes a cadence task a real follow-up answered, re-plans a
//! future one when the tier or the last follow-up moved it, and tells the owner (then the
//! manager) of overdue tasks; completing a task as an interaction; lists and the rep's feed.

use std::collections::{HashMap, HashSet};

use allot_core::access::{approval_chain, Principal};
use allot_core::activity::{Interaction, InteractionKind};
use allot_core::service::care::{plan_care, CareFacts, CareKind};
use allot_core::value::ValuePolicy;
use allot_core::{Clock, CustomerId, RepId};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::database::bulk::{
    insert_rows, update_rows, InsertRows, Kind, Transfer, UpdateRows, Value,
};
use crate::database::direct::{read_all_rows, stored_time_column};
use crate::database::pieces::StatementPieces;
use crate::database::{on_backend, sql, Backend, Connected, Dialect};
use crate::error::{StoreError, StoreResult};
use crate::lifecycle::notifications::{notify_all, NewNotification};
use crate::lifecycle::View;
use crate::{Store, StoredTime, WriteTransaction};
use sqlx::{Postgres, Sqlite};

/// The daily job's name in `job_runs`.
pub const PLAN_CARE_JOB: &str = "plan_care";

/// One care task, as the API lists it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CareTask {
    pub id: i64,
    pub customer_id: String,
    /// The rep the task is for.
    pub owner_id: Option<String>,
    /// cadence, renewal_30, renewal_7, birthday or founded.
    pub kind: String,
    /// YYYY-MM-DD, on the service calendar's days.
    pub due_on: String,
    /// open, done or cancelled.
    pub state: String,
    pub created_at: String,
    pub closed_at: Option<String>,
    /// The interaction that completed it.
    pub interaction_id: Option<String>,
    /// Open past its day (as of the clock).
    pub overdue: bool,
    /// Stable for ever: the iCalendar UID is made from it.
    pub task_key: String,
}

/// What the planning job did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CareSummary {
    pub planned: usize,
    /// Cadence tasks a real follow-up answered.
    pub done_by_follow_up: usize,
    /// Future tasks re-planned (tier change, a newer follow-up) or of customers no one owns.
    pub cancelled: usize,
    /// Open tasks moved to the customer's new owner.
    pub moved: usize,
    pub overdue_notified: usize,
    pub escalated: usize,
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct CareFilter {
    pub view: Option<View>,
    pub rep_id: Option<String>,
    pub customer_id: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Open tasks only (default), or every state.
    pub all_states: bool,
    pub limit: i64,
}

#[derive(sqlx_macros::FromRow)]
struct CareRow {
    id: i64,
    task_key: String,
    customer_id: String,
    owner_id: Option<String>,
    kind: String,
    due_on: NaiveDate,
    state: String,
    created_at: StoredTime,
    closed_at: Option<StoredTime>,
    interaction_id: Option<String>,
    overdue_notified: bool,
    escalated: bool,
}

const CARE_COLUMNS: &str = "id, task_key, customer_id, owner_id, kind, due_on, state, created_at, closed_at, interaction_id, overdue_notified, escalated";

/// A care task's row of [`CARE_COLUMNS`] read on SQLite's handle.
fn care_row_of_direct_row(row: &rusqlite::Row<'_>) -> StoreResult<CareRow> {
    let due_on: String = row.get(5)?;
    Ok(CareRow {
        id: row.get(0)?,
        task_key: row.get(1)?,
        customer_id: row.get(2)?,
        owner_id: row.get(3)?,
        kind: row.get(4)?,
        due_on: NaiveDate::parse_from_str(&due_on, "%Y-%m-%d")
            .map_err(|error| StoreError::Corrupt(format!("a care task's due day: {error}")))?,
        state: row.get(6)?,
        created_at: stored_time_column(row, 7)?
            .map(StoredTime)
            .ok_or_else(|| StoreError::Corrupt("a care task without its creation".to_string()))?,
        closed_at: stored_time_column(row, 8)?.map(StoredTime),
        interaction_id: row.get(9)?,
        overdue_notified: row.get(10)?,
        escalated: row.get(11)?,
    })
}

impl CareRow {
    fn task(self, today: NaiveDate) -> CareTask {
        CareTask {
            overdue: self.state == "open" && self.due_on < today,
            id: self.id,
            customer_id: self.customer_id,
            owner_id: self.owner_id,
            kind: self.kind,
            due_on: self.due_on.to_string(),
            state: self.state,
            created_at: self.created_at.text(),
            closed_at: self.closed_at.map(StoredTime::text),
            interaction_id: self.interaction_id,
            task_key: self.task_key,
        }
    }
}

#[derive(sqlx_macros::FromRow)]
struct OwnedForCare {
    id: String,
    owner_id: String,
    tier: Option<String>,
    created_at: Option<StoredTime>,
    renewal_date: Option<String>,
    birthday: Option<String>,
    founded: Option<String>,
    last_follow_up: Option<StoredTime>,
}

/// A date attribute as written (`2027-02-20`; a time's date part is taken too).
fn attribute_date(raw: Option<&str>) -> Option<NaiveDate> {
    let raw = raw?.trim();
    NaiveDate::parse_from_str(raw.get(..10).unwrap_or(raw), "%Y-%m-%d").ok()
}

/// Plans, closes, re-plans and chases care tasks as of the clock (the daily job).
pub(crate) async fn plan_care_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    clock: Clock,
    webhook: bool,
) -> StoreResult<CareSummary> {
    let now = clock.now();
    let service = &policy.service;
    let calendar = &service.calendar;
    let today = calendar.local_date(now);
    let mut summary = CareSummary::default();
    let attribute = |key: &str| match write.backend() {
        Backend::Sqlite => Sqlite::attribute_text("c.attributes", key),
        Backend::Postgres => Postgres::attribute_text("c.attributes", key),
    };
    let mut owned_read = StatementPieces::default();
    owned_read
        .sql(format!(
            "SELECT c.id, c.owner_id, c.tier, c.created_at, {} AS renewal_date, {} AS birthday, {} AS founded, \
             (SELECT MAX(i.at) FROM interactions AS i WHERE i.customer_id = c.id AND i.at <= ",
            attribute("renewal_date"),
            attribute("birthday"),
            attribute("founded"),
        ))
        .time(now)
        .sql(" AND (1 = 0");
    owned_read
        .real_follow_up_terms("i.", &policy.pool.real_follow_up)
        .sql(")) AS last_follow_up FROM customers AS c WHERE c.owner_id IS NOT NULL");
    let owned: Vec<OwnedForCare> = read_all_rows(
        &mut *write,
        owned_read,
        |row| {
            Ok(OwnedForCare {
                id: row.get(0)?,
                owner_id: row.get(1)?,
                tier: row.get(2)?,
                created_at: stored_time_column(row, 3)?.map(StoredTime),
                renewal_date: row.get(4)?,
                birthday: row.get(5)?,
                founded: row.get(6)?,
                last_follow_up: stored_time_column(row, 7)?.map(StoredTime),
            })
        },
        Ok,
    )
    .await?;
    let open: Vec<CareRow> = read_all_rows(
        &mut *write,
        format!("SELECT {CARE_COLUMNS} FROM care_tasks WHERE state = 'open'").as_str(),
        care_row_of_direct_row,
        Ok,
    )
    .await?;
    let mut open_by_customer: HashMap<&str, Vec<&CareRow>> = HashMap::new();
    for row in &open {
        open_by_customer
            .entry(row.customer_id.as_str())
            .or_default()
            .push(row);
    }
    let local_date = |time: StoredTime| calendar.local_date(time.0);
    let mut new_tasks: Vec<(String, String, String, &'static str, NaiveDate)> = Vec::new();
    // (id, state) of open tasks to close; (id, owner) of open tasks whose owner changed.
    let mut closes: Vec<(i64, &'static str)> = Vec::new();
    let mut moves: Vec<(i64, &str)> = Vec::new();
    let mut owned_ids: HashSet<&str> = HashSet::new();
    for customer in &owned {
        owned_ids.insert(customer.id.as_str());
        let last_follow_up = customer.last_follow_up.map(local_date);
        let last_follow_up_at = customer.last_follow_up;
        let facts = CareFacts {
            tier: customer.tier.as_deref(),
            last_real_follow_up: last_follow_up,
            created: customer.created_at.map(local_date),
            renewal_date: attribute_date(customer.renewal_date.as_deref()),
            birthday: attribute_date(customer.birthday.as_deref()),
            founded: attribute_date(customer.founded.as_deref()),
        };
        let planned = plan_care(service, &facts, today, service.care.plan_ahead_days);
        let keys: HashSet<String> = planned.iter().map(|task| task.key(&customer.id)).collect();
        let open_tasks = open_by_customer.get(customer.id.as_str());
        for task in &planned {
            let key = task.key(&customer.id);
            // Most of a steady day's plan is open already; its insert would only clash (and
            // keys of done and cancelled tasks are left to the insert's conflict clause).
            if open_tasks.is_some_and(|open| open.iter().any(|row| row.task_key == key)) {
                continue;
            }
            new_tasks.push((
                key,
                customer.id.clone(),
                customer.owner_id.clone(),
                task.kind.as_str(),
                task.due,
            ));
        }
        for row in open_by_customer
            .get(customer.id.as_str())
            .into_iter()
            .flatten()
        {
            if row.kind == CareKind::Cadence.as_str() && !keys.contains(&row.task_key) {
                // A follow-up after the task was planned answers it (the one it was planned
                // from came before).
                let answered = last_follow_up_at.is_some_and(|last| last > row.created_at);
                if answered {
                    closes.push((row.id, "done"));
                    summary.done_by_follow_up += 1;
                    continue;
                }
                if row.due_on > today {
                    closes.push((row.id, "cancelled"));
                    summary.cancelled += 1;
                    continue;
                }
            }
            if row.owner_id.as_deref() != Some(customer.owner_id.as_str()) {
                moves.push((row.id, customer.owner_id.as_str()));
            }
        }
    }
    // Tasks of customers no one owns now have no one to do them.
    for row in &open {
        if !owned_ids.contains(row.customer_id.as_str()) {
            closes.push((row.id, "cancelled"));
            summary.cancelled += 1;
        }
    }
    summary.moved = moves.len();
    let task_rows: Vec<Vec<Value<'_>>> = new_tasks
        .iter()
        .map(|(key, customer, owner, kind, due)| {
            vec![
                Value::Text(key),
                Value::Text(customer),
                Value::Text(owner),
                Value::Text(kind),
                Value::Date(*due),
                Value::Timestamp(now),
            ]
        })
        .collect();
    let before: i64 = count_tasks(write).await?;
    insert_rows(
        write.connection(),
        &InsertRows {
            table: "care_tasks",
            columns: &[
                ("task_key", Kind::Text),
                ("customer_id", Kind::Text),
                ("owner_id", Kind::Text),
                ("kind", Kind::Text),
                ("due_on", Kind::Date),
                ("created_at", Kind::Timestamp),
            ],
            rows: &task_rows,
            // A task is never planned twice: done and cancelled keys stay taken.
            on_conflict: Some("(task_key) DO NOTHING"),
            never_clash: false,
        },
        Transfer::for_rows(task_rows.len()),
    )
    .await?;
    summary.planned = usize::try_from(count_tasks(write).await? - before).unwrap_or_default();
    let close_rows: Vec<Vec<Value<'_>>> = closes
        .iter()
        .map(|(id, state)| {
            vec![
                Value::Integer(*id),
                Value::Text(state),
                Value::Timestamp(now),
            ]
        })
        .collect();
    update_rows(
        write.connection(),
        &UpdateRows {
            table: "care_tasks",
            key: &[("id", Kind::Integer)],
            still: None,
            set: &[("state", Kind::Text), ("closed_at", Kind::Timestamp)],
            rows: &close_rows,
            only_if: Some("care_tasks.state = 'open'"),
            caller_fails_unless_every_row_changes: false,
        },
    )
    .await?;
    let move_rows: Vec<Vec<Value<'_>>> = moves
        .iter()
        .map(|(id, owner)| vec![Value::Integer(*id), Value::Text(owner)])
        .collect();
    update_rows(
        write.connection(),
        &UpdateRows {
            table: "care_tasks",
            key: &[("id", Kind::Integer)],
            still: None,
            set: &[("owner_id", Kind::Text)],
            rows: &move_rows,
            only_if: Some("care_tasks.state = 'open'"),
            caller_fails_unless_every_row_changes: false,
        },
    )
    .await?;
    chase_overdue(write, policy, today, now, webhook, &mut summary).await?;
    Ok(summary)
}

async fn count_tasks(write: &mut WriteTransaction) -> StoreResult<i64> {
    Ok(on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "SELECT COUNT(*) FROM care_tasks")
            .build_query_scalar()
            .fetch_one(&mut *connection)
            .await?
    }))
}

/// Tells owners of their overdue tasks once, and managers once a task is overdue by
/// `escalate_after_days` more.
async fn chase_overdue(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    today: NaiveDate,
    now: DateTime<Utc>,
    webhook: bool,
    summary: &mut CareSummary,
) -> StoreResult<()> {
    let overdue: Vec<CareRow> = on_backend!(&mut *write, |connection, Db| {
        sql!(Db; format!("SELECT {CARE_COLUMNS} FROM care_tasks WHERE state = 'open' AND due_on < "), bind(today),
            " AND (overdue_notified = ", bind(false), " OR escalated = ", bind(false), ") ORDER BY id")
        .build_query_as()
        .fetch_all(&mut *connection)
        .await?
    });
    if overdue.is_empty() {
        return Ok(());
    }
    let escalate_after = Duration::days(i64::from(policy.service.care.escalate_after_days));
    let (teams, reps) = crate::organisation::load_teams_and_reps(&mut *write).await?;
    let reps: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
    struct Chase {
        id: i64,
        customer: CustomerId,
        recipient: Option<RepId>,
        kind: &'static str,
        key: String,
        text: String,
    }
    let mut chases: Vec<Chase> = Vec::new();
    for row in &overdue {
        let customer = CustomerId::parse(&row.customer_id)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let owner = row
            .owner_id
            .as_deref()
            .and_then(|owner| RepId::parse(owner).ok());
        let days = (today - row.due_on).num_days();
        if !row.overdue_notified {
            chases.push(Chase {
                id: row.id,
                customer: customer.clone(),
                recipient: owner.clone(),
                kind: "care_overdue",
                key: format!("care_overdue:{}", row.task_key),
                text: format!(
                    "care task {} ({}) for customer {} was due {}: {days} days overdue",
                    row.id, row.kind, row.customer_id, row.due_on
                ),
            });
        }
        if !row.escalated && row.due_on + escalate_after < today {
            let manager = owner.as_ref().and_then(|owner| {
                approval_chain(owner, 1, &teams, &reps)
                    .into_iter()
                    .next()
                    .flatten()
            });
            chases.push(Chase {
                id: row.id,
                customer,
                recipient: manager,
                kind: "care_escalated",
                key: format!("care_escalated:{}", row.task_key),
                text: format!(
                    "care task {} ({}) for customer {} of {} was due {}: {days} days overdue",
                    row.id,
                    row.kind,
                    row.customer_id,
                    row.owner_id.as_deref().unwrap_or("no one"),
                    row.due_on
                ),
            });
        }
    }
    let notifications: Vec<NewNotification<'_>> = chases
        .iter()
        .map(|chase| NewNotification {
            recipient: chase.recipient.as_ref(),
            kind: chase.kind,
            customer_id: Some(&chase.customer),
            transfer_id: None,
            ticket_id: None,
            text: chase.text.clone(),
            once_key: Some(chase.key.clone()),
        })
        .collect();
    notify_all(&mut *write, &notifications, now, webhook).await?;
    let column_rows = |kind: &str| -> Vec<Vec<Value<'static>>> {
        chases
            .iter()
            .filter(|chase| chase.kind == kind)
            .map(|chase| vec![Value::Integer(chase.id), Value::Boolean(true)])
            .collect()
    };
    for (kind, column) in [
        ("care_overdue", "overdue_notified"),
        ("care_escalated", "escalated"),
    ] {
        let rows = column_rows(kind);
        if kind == "care_overdue" {
            summary.overdue_notified = rows.len();
        } else {
            summary.escalated = rows.len();
        }
        update_rows(
            write.connection(),
            &UpdateRows {
                table: "care_tasks",
                key: &[("id", Kind::Integer)],
                still: None,
                set: &[(column, Kind::Boolean)],
                rows: &rows,
                only_if: None,
                caller_fails_unless_every_row_changes: false,
            },
        )
        .await?;
    }
    Ok(())
}

/// Appends the filter's conditions to a statement over `care_tasks AS t JOIN customers AS c`.
macro_rules! push_care_filter {
    ($query:ident, $filter:expr, $view_reps:expr) => {{
        crate::lifecycle::push_in_view!(
            $query,
            $filter.view.as_ref(),
            $view_reps,
            "c.id",
            "c.owner_id"
        );
        if !$filter.all_states {
            $query.push(" AND t.state = 'open'");
        }
        if let Some(rep) = &$filter.rep_id {
            $query.push(" AND t.owner_id = ").push_bind(rep.as_str());
        }
        if let Some(customer) = &$filter.customer_id {
            $query
                .push(" AND t.customer_id = ")
                .push_bind(customer.as_str());
        }
        if let Some(from) = $filter.from {
            $query.push(" AND t.due_on >= ").push_bind(from);
        }
        if let Some(to) = $filter.to {
            $query.push(" AND t.due_on <= ").push_bind(to);
        }
    }};
}

impl Store {
    /// Care tasks by due day (then id), as of the clock.
    pub async fn care_tasks(
        &self,
        filter: &CareFilter,
        clock: Clock,
    ) -> StoreResult<Vec<CareTask>> {
        let view_reps = View::rep_list(filter.view.as_ref());
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let today = policy.service.calendar.local_date(clock.now());
        let rows: Vec<CareRow> = on_backend!(&mut read, |connection, Db| {
            let mut query = sql!(Db; format!("SELECT {} FROM care_tasks AS t JOIN customers AS c ON c.id = t.customer_id WHERE 1 = 1",
                CARE_COLUMNS.split(", ").map(|column| format!("t.{column}")).collect::<Vec<_>>().join(", ")));
            push_care_filter!(query, filter, view_reps.as_deref());
            query
                .push(" ORDER BY t.due_on, t.id LIMIT ")
                .push_bind(if filter.limit > 0 { filter.limit } else { 1000 });
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        Ok(rows.into_iter().map(|row| row.task(today)).collect())
    }

    /// The customer a task is for, for the caller's view check; `NotFound` when unknown.
    pub async fn care_task_customer(&self, id: i64) -> StoreResult<CustomerId> {
        let mut connection = self.database.acquire().await?;
        let customer: Option<String> = on_backend!(&mut connection, |connection, Db| {
            sql!(Db; "SELECT customer_id FROM care_tasks WHERE id = ", bind(id))
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
        });
        let customer = customer.ok_or_else(|| StoreError::NotFound {
            entity: "care task",
            id: id.to_string(),
        })?;
        CustomerId::parse(&customer).map_err(|error| StoreError::Corrupt(error.to_string()))
    }

    /// Completes an open task by recording the interaction that did it (by the caller when a
    /// rep, else by the task's owner), in one transaction.
    pub async fn complete_care_task(
        &self,
        principal: &Principal,
        id: i64,
        kind: InteractionKind,
        minutes: f64,
        outcome: &str,
        clock: Clock,
    ) -> StoreResult<CareTask> {
        if !(0.0..=allot_core::activity::MAXIMUM_MINUTES).contains(&minutes) {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "minutes",
                format!(
                    "{minutes} is not from 0 to {}",
                    allot_core::activity::MAXIMUM_MINUTES
                ),
            )));
        }
        let now = clock.now();
        let mut write = self.begin_write().await?;
        let row: Option<CareRow> = on_backend!(&mut write, |connection, Db| {
            sql!(Db; format!("SELECT {CARE_COLUMNS} FROM care_tasks WHERE id = "), bind(id))
                .build_query_as()
                .fetch_optional(&mut *connection)
                .await?
        });
        let row = row.ok_or_else(|| StoreError::NotFound {
            entity: "care task",
            id: id.to_string(),
        })?;
        if row.state != "open" {
            return Err(StoreError::Denied {
                code: "task_closed",
                message: format!("care task {id} is {} already", row.state),
            });
        }
        let rep = match principal.rep() {
            Some(rep) => rep.clone(),
            None => row
                .owner_id
                .as_deref()
                .and_then(|owner| RepId::parse(owner).ok())
                .ok_or_else(|| StoreError::Denied {
                    code: "task_without_owner",
                    message: format!("care task {id} has no owner to record the interaction for"),
                })?,
        };
        let interaction_id = format!("care-{id}");
        let interaction = Interaction {
            id: Some(interaction_id.clone()),
            customer_id: CustomerId::parse(&row.customer_id)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?,
            rep_id: rep,
            at: now,
            kind,
            minutes,
            outcome: outcome.trim().to_string(),
        };
        crate::activity::upsert_interactions(&mut write, &[(interaction_id.clone(), interaction)])
            .await?;
        on_backend!(&mut write, |connection, Db| {
            sql!(Db; "UPDATE care_tasks SET state = 'done', closed_at = ", bind(StoredTime(now)),
                ", interaction_id = ", bind(interaction_id.as_str()), " WHERE id = ", bind(id))
            .build()
            .execute(&mut *connection)
            .await?;
        });
        let policy = self.policy_in(&mut write).await?.1;
        let today = policy.service.calendar.local_date(now);
        let done: CareRow = on_backend!(&mut write, |connection, Db| {
            sql!(Db; format!("SELECT {CARE_COLUMNS} FROM care_tasks WHERE id = "), bind(id))
                .build_query_as()
                .fetch_one(&mut *connection)
                .await?
        });
        write.commit().await?;
        Ok(done.task(today))
    }

    /// A rep's care calendar as an iCalendar feed: its open tasks and those closed in the last
    /// `plan_ahead_days` (closed ones as cancelled or done), each at the start of its day's
    /// working hours.
    pub async fn care_feed(&self, rep: &RepId, clock: Clock) -> StoreResult<String> {
        let mut read = self.database.begin_read().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let calendar = &policy.service.calendar;
        let today = calendar.local_date(clock.now());
        let since = today - Duration::days(i64::from(policy.service.care.plan_ahead_days));
        let rows: Vec<(CareRow, String)> = on_backend!(&mut read, |connection, Db| {
            let rows: Vec<CareRow> = sql!(Db; format!("SELECT {CARE_COLUMNS} FROM care_tasks WHERE owner_id = "), bind(rep.as_str()),
                " AND (state = 'open' OR due_on >= ", bind(since), ") ORDER BY due_on, id")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
            let mut named = Vec::with_capacity(rows.len());
            for row in rows {
                let name: Option<String> = sql!(Db; "SELECT name FROM customers WHERE id = ", bind(row.customer_id.as_str()))
                    .build_query_scalar()
                    .fetch_optional(&mut *connection)
                    .await?;
                named.push((row, name.unwrap_or_default()));
            }
            named
        });
        let start_minute = calendar
            .working_hours()
            .first()
            .map_or(9 * 60, |span| span.start_minute);
        let events: Vec<allot_core::service::ical::FeedEvent> = rows
            .into_iter()
            .map(|(row, name)| {
                let starts = calendar.instant_at(row.due_on, start_minute);
                let words = care_words(&row.kind);
                allot_core::service::ical::FeedEvent {
                    uid: format!("{}@allot", row.task_key),
                    summary: format!("{words}: {name} ({})", row.customer_id),
                    description: format!("{} {} · {}", row.kind, row.due_on, row.state),
                    day: row.due_on,
                    starts,
                    minutes: 30,
                    cancelled: row.state == "cancelled",
                }
            })
            .collect();
        Ok(allot_core::service::ical::calendar_feed(
            &format!("Allot {rep}"),
            calendar.time_zone().name(),
            clock.now(),
            &events,
        ))
    }
}

/// A care kind in the feed's words (Chinese first: the feed is read on a phone).
fn care_words(kind: &str) -> &'static str {
    match CareKind::parse(kind) {
        Some(CareKind::Cadence) => "定期回访 follow-up",
        Some(CareKind::Renewal30) => "续约提醒(30天) renewal in 30 days",
        Some(CareKind::Renewal7) => "续约提醒(7天) renewal in 7 days",
        Some(CareKind::Birthday) => "生日关怀 birthday",
        Some(CareKind::Founded) => "成立纪念日 founding day",
        None => "关怀 care",
    }
}
