//! The escalation job of `tick`: every open ticket past a promise climbs one level per
//! `escalate_every` — level 1 the owner's team manager, level 2 that manager's manager, and so
//! up the team tree, then the admins — each level once, as a ticket event and a notification.

use std::collections::HashMap;

use allot_core::access::approval_chain;
use allot_core::service::ticket_standing;
use allot_core::value::ValuePolicy;
use allot_core::{Clock, CustomerId, RepId};
use serde::Serialize;

use super::{record_ticket_events, NewTicketEvent, TicketRow, TICKET_COLUMNS_OF_T};
use crate::database::bulk::{update_rows, Kind, UpdateRows, Value};
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::lifecycle::notifications::{notify_all, NewNotification};
use crate::{Store, StoredTime, WriteTransaction};

/// The job's name, as actors and logs give it.
pub const ESCALATE_TICKETS_JOB: &str = "escalate_tickets";

/// The most managers above an owner a ticket climbs to before the admins.
const MOST_MANAGER_LEVELS: usize = 8;

/// What the escalation job did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EscalationSummary {
    /// Open tickets whose clocks were read.
    pub open_tickets: usize,
    /// Open tickets past a promise as of the clock.
    pub breached: usize,
    /// Escalation steps taken now (a ticket climbing two levels counts two).
    pub escalations: usize,
}

#[derive(sqlx_macros::FromRow)]
struct OpenTicketRow {
    #[sqlx(flatten)]
    ticket: TicketRow,
    owner_id: Option<String>,
}

/// One escalation level to reach.
struct Step {
    ticket_id: String,
    customer_id: CustomerId,
    level: u32,
    recipient: Option<RepId>,
    reopened: i64,
    text: String,
}

/// Raises every open ticket to the escalation level its clocks call for as of the clock. The
/// open tickets are read and judged outside the routing lock (a read transaction), and only
/// the tickets with a level to reach are checked again and written under it, so a store with
/// 200,000 open tickets does not hold every writer back while they are read. A level once
/// reached is not reached again (the level is stored, and each notification is sent once per
/// ticket, reopening and level), so ticking twice at one time changes nothing.
pub(crate) async fn escalate_tickets(
    store: &Store,
    policy: &ValuePolicy,
    clock: Clock,
    webhook: bool,
) -> StoreResult<EscalationSummary> {
    let now = clock.now();
    let mut summary = EscalationSummary::default();
    if policy.service.tiers.is_empty() {
        return Ok(summary);
    }
    let mut read = store.database.begin_read().await?;
    let steps = plan_escalations(&mut read, policy, now, &mut summary).await?;
    drop(read);
    if steps.is_empty() {
        return Ok(summary);
    }
    let mut write = store.begin_write().await?;
    let steps = still_due(&mut write, steps).await?;
    summary.escalations = steps.len();
    write_escalations(&mut write, &steps, now, webhook).await?;
    write.commit().await?;
    Ok(summary)
}

/// The levels each open ticket should reach, as read.
async fn plan_escalations(
    read: &mut impl Connected,
    policy: &ValuePolicy,
    now: chrono::DateTime<chrono::Utc>,
    summary: &mut EscalationSummary,
) -> StoreResult<Vec<Step>> {
    let rows: Vec<OpenTicketRow> = on_backend!(&mut *read, |connection, Db| {
        sql!(Db; format!("SELECT {TICKET_COLUMNS_OF_T}, c.owner_id FROM tickets AS t JOIN customers AS c ON c.id = t.customer_id WHERE t.closed_at IS NULL AND t.resolved_at IS NULL AND t.opened_at <= "),
            bind(StoredTime(now)), " ORDER BY t.opened_at")
        .build_query_as()
        .fetch_all(&mut *connection)
        .await?
    });
    summary.open_tickets = rows.len();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (teams, reps) = crate::organisation::load_teams_and_reps(&mut *read).await?;
    let reps: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
    let mut chains: HashMap<String, Vec<RepId>> = HashMap::new();
    let mut steps: Vec<Step> = Vec::new();
    for row in rows {
        let chain: &[RepId] = match &row.owner_id {
            None => &[],
            Some(owner) => chains.entry(owner.clone()).or_insert_with(|| {
                RepId::parse(owner)
                    .map(|owner| {
                        approval_chain(&owner, MOST_MANAGER_LEVELS, &teams, &reps)
                            .into_iter()
                            .map_while(|manager| manager)
                            .collect()
                    })
                    .unwrap_or_default()
            }),
        };
        // The managers above the owner, then the admins.
        let highest = chain.len() as u32 + 1;
        let times = row.ticket.times()?;
        let standing = ticket_standing(
            &policy.service,
            row.ticket.tier.as_deref(),
            &times,
            now,
            highest,
        );
        if standing.breached {
            summary.breached += 1;
        }
        let reached = u32::try_from(row.ticket.escalation_level.max(0)).unwrap_or(u32::MAX);
        if standing.escalation_level_due <= reached {
            continue;
        }
        let customer_id = CustomerId::parse(&row.ticket.customer_id)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let late = if standing.first_response_breached && times.first_response_at.is_none() {
            "first response"
        } else {
            "resolution"
        };
        for level in reached + 1..=standing.escalation_level_due {
            let recipient = chain.get(level as usize - 1).cloned();
            let due = if late == "first response" {
                standing.first_response_due
            } else {
                standing.resolution_due
            };
            let text = format!(
                "ticket {} of customer {} ({} {}) is past its {late} due {}: escalated to level {level}{}",
                row.ticket.id,
                customer_id,
                row.ticket.severity,
                row.ticket.kind,
                due.map(|due| StoredTime(due).text()).unwrap_or_default(),
                match &recipient {
                    Some(manager) => format!(" ({manager})"),
                    None => " (the admins)".to_string(),
                },
            );
            steps.push(Step {
                ticket_id: row.ticket.id.clone(),
                customer_id: customer_id.clone(),
                level,
                recipient,
                reopened: row.ticket.reopened,
                text,
            });
        }
    }
    Ok(steps)
}

/// The steps whose ticket, checked again under the lock, is still open, not reopened since,
/// and below the step's level (a step taken, a tick of another server, meanwhile).
async fn still_due(write: &mut WriteTransaction, steps: Vec<Step>) -> StoreResult<Vec<Step>> {
    let mut ids: Vec<&str> = steps.iter().map(|step| step.ticket_id.as_str()).collect();
    ids.dedup();
    let mut current: HashMap<String, (i64, i64)> = HashMap::new();
    for chunk in ids.chunks(crate::database::LIST_CHUNK) {
        let rows: Vec<(String, i64, i64)> = on_backend!(&mut *write, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, escalation_level, reopened FROM tickets WHERE closed_at IS NULL AND resolved_at IS NULL AND ");
            crate::database::TextList::push_in_list(&mut query, "id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        current.extend(
            rows.into_iter()
                .map(|(id, level, reopened)| (id, (level, reopened))),
        );
    }
    Ok(steps
        .into_iter()
        .filter(|step| {
            current
                .get(&step.ticket_id)
                .is_some_and(|(level, reopened)| {
                    *reopened == step.reopened && i64::from(step.level) > *level
                })
        })
        .collect())
}

/// Each step's level on its ticket, its ticket event and its notification.
async fn write_escalations(
    write: &mut WriteTransaction,
    steps: &[Step],
    now: chrono::DateTime<chrono::Utc>,
    webhook: bool,
) -> StoreResult<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut highest: HashMap<&str, i64> = HashMap::new();
    for step in steps {
        let level = highest.entry(step.ticket_id.as_str()).or_insert(0);
        *level = (*level).max(i64::from(step.level));
    }
    let update: Vec<Vec<Value<'_>>> = highest
        .iter()
        .map(|(id, level)| vec![Value::Text(id), Value::Integer(*level)])
        .collect();
    update_rows(
        write.connection(),
        &UpdateRows {
            table: "tickets",
            key: &[("id", Kind::Text)],
            still: None,
            set: &[("escalation_level", Kind::Integer)],
            rows: &update,
            only_if: None,
            caller_fails_unless_every_row_changes: false,
        },
    )
    .await?;
    let events: Vec<NewTicketEvent<'_>> = steps
        .iter()
        .map(|step| NewTicketEvent {
            ticket_id: &step.ticket_id,
            at: now,
            kind: "escalated",
            level: Some(i64::from(step.level)),
            recipient_rep_id: step.recipient.as_ref().map(RepId::as_str),
            detail: step.text.clone(),
        })
        .collect();
    record_ticket_events(
        &mut *write,
        &format!("system:{ESCALATE_TICKETS_JOB}"),
        &events,
    )
    .await?;
    let notifications: Vec<NewNotification<'_>> = steps
        .iter()
        .map(|step| NewNotification {
            recipient: step.recipient.as_ref(),
            kind: "ticket_escalated",
            customer_id: Some(&step.customer_id),
            transfer_id: None,
            ticket_id: Some(&step.ticket_id),
            text: step.text.clone(),
            once_key: Some(format!(
                "ticket_escalated:{}:{}:{}",
                step.ticket_id, step.reopened, step.level
            )),
        })
        .collect();
    notify_all(&mut *write, &notifications, now, webhook).await?;
    Ok(())
}
