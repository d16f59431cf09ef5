//! Transactions and interactions: what customers bought and how reps touched them, parsed at the edge.
//!
//! Both arrive as CSV rows (`allot import transactions|interactions`) or JSON bodies and go
//! through the `*Fields` records here, so every error names its field.
//!
//! A row without an `id` gets one derived from its content and its occurrence among identical
//! rows of the same file (see [`content_id`]), so importing the same file twice changes nothing
//! instead of doubling every purchase.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, FieldErrors, Problems};
use crate::ids::{CustomerId, RepId};
use crate::input::{lenient_text, unknown_column};
use crate::money::Money;
use crate::text::{parse_free_text, parse_optional_timestamp, parse_text};

/// One purchase or refund. Negative amounts are refunds, netted by the value module.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transaction {
    pub id: Option<String>,
    pub customer_id: CustomerId,
    pub at: DateTime<Utc>,
    /// Exact, in minor units (分).
    pub amount: Money,
    pub product_line: String,
}

/// The kinds of touch a rep records (跟进记录).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum InteractionKind {
    Call,
    Visit,
    Email,
    Meeting,
    Message,
}

impl InteractionKind {
    pub const ALL: [InteractionKind; 5] = [
        InteractionKind::Call,
        InteractionKind::Visit,
        InteractionKind::Email,
        InteractionKind::Meeting,
        InteractionKind::Message,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::Call => "call",
            InteractionKind::Visit => "visit",
            InteractionKind::Email => "email",
            InteractionKind::Meeting => "meeting",
            InteractionKind::Message => "message",
        }
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<InteractionKind, FieldError> {
        let trimmed = raw.trim();
        InteractionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == trimmed)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("'{trimmed}' is not one of call|visit|email|meeting|message"),
                )
            })
    }
}

impl fmt::Display for InteractionKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One touch of a customer by a rep.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interaction {
    pub id: Option<String>,
    pub customer_id: CustomerId,
    pub rep_id: RepId,
    pub at: DateTime<Utc>,
    pub kind: InteractionKind,
    pub minutes: f64,
    pub outcome: String,
}

fn required_time(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    parse_optional_timestamp(field, raw)?.ok_or_else(|| {
        FieldError::new(field, "is required (a date YYYY-MM-DD or an RFC 3339 time)")
    })
}

fn optional_row_id(raw: &str) -> Result<Option<String>, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.len() > 128 || trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            "id",
            "must be at most 128 characters without control characters",
        ));
    }
    Ok(Some(trimmed.to_string()))
}

/// A transaction as text: the `transactions.csv` columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionFields {
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub customer_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub at: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub amount: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub product_line: String,
}

impl TransactionFields {
    /// `id` is optional; the others are the documented format.
    pub const COLUMNS: [&'static str; 5] = ["id", "customer_id", "at", "amount", "product_line"];

    pub fn set(&mut self, column: &str, value: String) -> Result<(), FieldError> {
        let slot = match column {
            "id" => &mut self.id,
            "customer_id" => &mut self.customer_id,
            "at" => &mut self.at,
            "amount" => &mut self.amount,
            "product_line" => &mut self.product_line,
            other => return Err(unknown_column(other, &Self::COLUMNS)),
        };
        *slot = value;
        Ok(())
    }

    pub fn into_transaction(self) -> Result<Transaction, FieldErrors> {
        let mut problems = Problems::default();
        let id = problems.take(optional_row_id(&self.id));
        let customer_id = problems.take(CustomerId::parse_field("customer_id", &self.customer_id));
        let at = problems.take(required_time("at", &self.at));
        let amount = problems.take(Money::parse("amount", &self.amount));
        let product_line = problems.take(parse_text("product_line", &self.product_line));
        problems.finish(|| {
            Some(Transaction {
                id: id?,
                customer_id: customer_id?,
                at: at?,
                amount: amount?,
                product_line: product_line?,
            })
        })
    }
}

/// An interaction as text: the `interactions.csv` columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionFields {
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub customer_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub rep_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub at: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub minutes: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub outcome: String,
}

impl InteractionFields {
    pub const COLUMNS: [&'static str; 7] = [
        "id",
        "customer_id",
        "rep_id",
        "at",
        "kind",
        "minutes",
        "outcome",
    ];

    pub fn set(&mut self, column: &str, value: String) -> Result<(), FieldError> {
        let slot = match column {
            "id" => &mut self.id,
            "customer_id" => &mut self.customer_id,
            "rep_id" => &mut self.rep_id,
            "at" => &mut self.at,
            "kind" => &mut self.kind,
            "minutes" => &mut self.minutes,
            "outcome" => &mut self.outcome,
            other => return Err(unknown_column(other, &Self::COLUMNS)),
        };
        *slot = value;
        Ok(())
    }

    pub fn into_interaction(self) -> Result<Interaction, FieldErrors> {
        let mut problems = Problems::default();
        let id = problems.take(optional_row_id(&self.id));
        let customer_id = problems.take(CustomerId::parse_field("customer_id", &self.customer_id));
        let rep_id = problems.take(RepId::parse_field("rep_id", &self.rep_id));
        let at = problems.take(required_time("at", &self.at));
        let kind = problems.take(InteractionKind::parse_field("kind", &self.kind));
        let minutes = problems.take(match self.minutes.trim() {
            "" => Ok(0.0),
            raw => match raw.parse::<f64>() {
                Ok(minutes) if (0.0..=MAXIMUM_MINUTES).contains(&minutes) => Ok(minutes),
                Ok(_) => Err(FieldError::new(
                    "minutes",
                    format!("must be a number from 0 to {MAXIMUM_MINUTES} (one week), got '{raw}'"),
                )),
                Err(_) => Err(FieldError::new(
                    "minutes",
                    format!("'{raw}' is not a number of minutes"),
                )),
            },
        });
        let outcome = problems.take(parse_free_text("outcome", &self.outcome));
        problems.finish(|| {
            Some(Interaction {
                id: id?,
                customer_id: customer_id?,
                rep_id: rep_id?,
                at: at?,
                kind: kind?,
                minutes: minutes?,
                outcome: outcome?,
            })
        })
    }
}

/// How serious a ticket is (工单/投诉): a major one is a complaint or an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketSeverity {
    Major,
    General,
}

impl TicketSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketSeverity::Major => "major",
            TicketSeverity::General => "general",
        }
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<TicketSeverity, FieldError> {
        match raw.trim() {
            "" | "general" => Ok(TicketSeverity::General),
            "major" => Ok(TicketSeverity::Major),
            other => Err(FieldError::new(
                field,
                format!("'{other}' is not one of major|general"),
            )),
        }
    }
}

/// What a ticket is: a service request, or a complaint (投诉), which the baseline checks hold
/// to being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    Request,
    Complaint,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::Request => "request",
            TicketKind::Complaint => "complaint",
        }
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<TicketKind, FieldError> {
        match raw.trim() {
            "" | "request" => Ok(TicketKind::Request),
            "complaint" => Ok(TicketKind::Complaint),
            other => Err(FieldError::new(
                field,
                format!("'{other}' is not one of request|complaint"),
            )),
        }
    }
}

/// A service request or complaint. Open while `closed_at` is unknown or later than the clock;
/// open tickets lower a customer's health, and every ticket counts into its cost to serve.
/// Its service clocks stop at `first_response_at` and at `resolved_at` (or, for a ticket only
/// ever closed, `closed_at`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub id: String,
    pub customer_id: CustomerId,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub severity: TicketSeverity,
    pub subject: String,
    pub kind: TicketKind,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// How many times it was reopened after a resolution.
    pub reopened: u32,
    /// The customer's rating of the resolution, 1 (poor) to 5 (excellent).
    pub rating: Option<u8>,
}

impl Ticket {
    /// When its resolution clock stopped: resolved, or closed for a ticket only ever closed.
    pub fn resolution_at(&self) -> Option<DateTime<Utc>> {
        self.resolved_at.or(self.closed_at)
    }
}

/// The most reopenings a ticket may record.
pub const MOST_REOPENINGS: u32 = 10_000;

/// A ticket as text: the `tickets.csv` columns. A ticket is re-imported (or posted again)
/// with the same `id` to close it; a file changes only the columns it has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketFields {
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub customer_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub opened_at: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub closed_at: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub severity: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub subject: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub first_response_at: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub resolved_at: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub reopened: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub rating: String,
}

impl TicketFields {
    pub const COLUMNS: [&'static str; 11] = [
        "id",
        "customer_id",
        "opened_at",
        "closed_at",
        "severity",
        "subject",
        "kind",
        "first_response_at",
        "resolved_at",
        "reopened",
        "rating",
    ];

    fn slot(&mut self, column: &str) -> Option<&mut String> {
        Some(match column {
            "id" => &mut self.id,
            "customer_id" => &mut self.customer_id,
            "opened_at" => &mut self.opened_at,
            "closed_at" => &mut self.closed_at,
            "severity" => &mut self.severity,
            "subject" => &mut self.subject,
            "kind" => &mut self.kind,
            "first_response_at" => &mut self.first_response_at,
            "resolved_at" => &mut self.resolved_at,
            "reopened" => &mut self.reopened,
            "rating" => &mut self.rating,
            _ => return None,
        })
    }

    pub fn set(&mut self, column: &str, value: String) -> Result<(), FieldError> {
        match self.slot(column) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(unknown_column(column, &Self::COLUMNS)),
        }
    }

    /// The text of a stored ticket, to lay a partial update over (see [`TicketFields::overlay`]).
    pub fn from_ticket(ticket: &Ticket) -> Self {
        let time =
            |time: Option<DateTime<Utc>>| time.map(|time| time.to_rfc3339()).unwrap_or_default();
        TicketFields {
            id: ticket.id.clone(),
            customer_id: ticket.customer_id.to_string(),
            opened_at: ticket.opened_at.to_rfc3339(),
            closed_at: time(ticket.closed_at),
            severity: ticket.severity.as_str().to_string(),
            subject: ticket.subject.clone(),
            kind: ticket.kind.as_str().to_string(),
            first_response_at: time(ticket.first_response_at),
            resolved_at: time(ticket.resolved_at),
            reopened: ticket.reopened.to_string(),
            rating: ticket
                .rating
                .map(|rating| rating.to_string())
                .unwrap_or_default(),
        }
    }

    /// Takes the given columns from `update`: `{"id":"k1","closed_at":"…"}` closes a ticket
    /// and keeps its severity and subject.
    pub fn overlay(&mut self, mut update: TicketFields, given: &crate::update::GivenColumns) {
        for column in Self::COLUMNS {
            if given.contains(column) {
                if let (Some(slot), Some(value)) = (self.slot(column), update.slot(column)) {
                    *slot = std::mem::take(value);
                }
            }
        }
    }

    pub fn into_ticket(self) -> Result<Ticket, FieldErrors> {
        let mut problems = Problems::default();
        let id = problems.take(optional_row_id(&self.id).and_then(|id| {
            id.ok_or_else(|| {
                FieldError::new("id", "is required: a ticket is closed later by its id")
            })
        }));
        let customer_id = problems.take(CustomerId::parse_field("customer_id", &self.customer_id));
        let opened_at = problems.take(required_time("opened_at", &self.opened_at));
        let mut later_time = |field: &str, raw: &str| {
            let time = problems.take(parse_optional_timestamp(field, raw));
            if let (Some(opened), Some(Some(time))) = (opened_at, time) {
                if time < opened {
                    problems.push(FieldError::new(
                        field,
                        format!(
                            "{} is before opened_at {}",
                            time.to_rfc3339(),
                            opened.to_rfc3339()
                        ),
                    ));
                }
            }
            time
        };
        let closed_at = later_time("closed_at", &self.closed_at);
        let first_response_at = later_time("first_response_at", &self.first_response_at);
        let resolved_at = later_time("resolved_at", &self.resolved_at);
        let severity = problems.take(TicketSeverity::parse_field("severity", &self.severity));
        let subject = problems.take(parse_text("subject", &self.subject));
        let kind = problems.take(TicketKind::parse_field("kind", &self.kind));
        let reopened = problems.take(match self.reopened.trim() {
            "" => Ok(0),
            text => text
                .parse::<u32>()
                .ok()
                .filter(|count| *count <= MOST_REOPENINGS)
                .ok_or_else(|| {
                    FieldError::new(
                        "reopened",
                        format!("'{text}' is not a whole number from 0 to {MOST_REOPENINGS}"),
                    )
                }),
        });
        let rating = problems.take(parse_rating("rating", &self.rating));
        problems.finish(|| {
            Some(Ticket {
                id: id?,
                customer_id: customer_id?,
                opened_at: opened_at?,
                closed_at: closed_at?,
                severity: severity?,
                subject: subject?,
                kind: kind?,
                first_response_at: first_response_at?,
                resolved_at: resolved_at?,
                reopened: reopened?,
                rating: rating?,
            })
        })
    }
}

/// A rating 1–5 (empty: none).
pub fn parse_rating(field: &str, raw: &str) -> Result<Option<u8>, FieldError> {
    match raw.trim() {
        "" => Ok(None),
        text => match text.parse::<u8>() {
            Ok(rating @ 1..=5) => Ok(Some(rating)),
            _ => Err(FieldError::new(
                field,
                format!("'{text}' is not a rating; give a whole number from 1 to 5"),
            )),
        },
    }
}

/// Longest interaction, in minutes: one week.
pub const MAXIMUM_MINUTES: f64 = 10_080.0;

/// A stable id for a row that came without one: a hash of its content plus how many identical
/// rows came before it in the same file. Re-importing a file maps each row to the same id;
/// two genuinely identical purchases in one file stay two.
pub fn content_id(prefix: &str, content: &[&str], occurrence: usize) -> String {
    // FNV-1a, 64-bit: stable across versions and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in content {
        for byte in part.as_bytes().iter().chain(std::iter::once(&0x1f)) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{prefix}-{hash:016x}-{occurrence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(cells: [&str; 4]) -> Result<Transaction, FieldErrors> {
        let mut fields = TransactionFields::default();
        for (column, value) in ["customer_id", "at", "amount", "product_line"]
            .into_iter()
            .zip(cells)
        {
            fields.set(column, value.to_string())?;
        }
        fields.into_transaction()
    }

    fn check_transaction(cells: [&str; 4], expected: Result<(&str, i64), &str>) {
        match (transaction(cells), expected) {
            (Ok(parsed), Ok((at, amount))) => {
                assert_eq!(parsed.at.to_rfc3339(), at, "{cells:?}");
                assert_eq!(parsed.amount.minor_units(), amount, "{cells:?}");
            }
            (Err(errors), Err(field)) => {
                assert_eq!(errors.first().field, field, "{cells:?}: {errors}")
            }
            (result, expected) => panic!("{cells:?}: got {result:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn transactions_parse_dates_times_and_refunds() {
        check_transaction(
            ["c1", "2026-03-01", "120.5", "软件"],
            Ok(("2026-03-01T00:00:00+00:00", 12_050)),
        );
        check_transaction(
            ["c1", "2026-03-01T10:00:00+08:00", "-20", ""],
            Ok(("2026-03-01T02:00:00+00:00", -2_000)),
        );
        check_transaction(["c1", "", "1", ""], Err("at"));
        check_transaction(["c1", "yesterday", "1", ""], Err("at"));
        check_transaction(["c1", "2026-03-01", "¥12", ""], Err("amount"));
        check_transaction(["c1", "2026-03-01", "NaN", ""], Err("amount"));
        check_transaction(["", "2026-03-01", "1", ""], Err("customer_id"));
        check_transaction(["c1", "2026-03-01", "1e308", ""], Err("amount"));
        check_transaction(["c1", "2026-03-01", "0.125", ""], Err("amount"));
        check_transaction(["c1", "2026-03-01", "1", "软\u{0}件"], Err("product_line"));
        let every_problem = transaction(["", "later", "¥", ""]).unwrap_err();
        let fields: Vec<&str> = every_problem
            .iter()
            .map(|error| error.field.as_str())
            .collect();
        assert_eq!(fields, ["customer_id", "at", "amount"]);
    }

    fn check_interaction(kind: &str, minutes: &str, expected: Result<f64, &str>) {
        let mut fields = InteractionFields::default();
        for (column, value) in [
            ("customer_id", "c1"),
            ("rep_id", "r1"),
            ("at", "2026-03-01"),
            ("kind", kind),
            ("minutes", minutes),
        ] {
            fields.set(column, value.to_string()).expect("known column");
        }
        match (fields.into_interaction(), expected) {
            (Ok(parsed), Ok(minutes)) => assert_eq!(parsed.minutes, minutes),
            (Err(errors), Err(field)) => assert_eq!(errors.first().field, field, "{errors}"),
            (result, expected) => panic!("{kind}/{minutes}: got {result:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn interactions_check_kind_and_minutes() {
        check_interaction("call", "15", Ok(15.0));
        check_interaction("visit", "", Ok(0.0));
        check_interaction("fax", "5", Err("kind"));
        check_interaction("call", "-5", Err("minutes"));
        check_interaction("call", "半小时", Err("minutes"));
        check_interaction("call", "1e309", Err("minutes"));
        check_interaction("call", "20000", Err("minutes"));
    }

    #[test]
    fn tickets_need_an_id_and_close_after_they_open() {
        let ticket = |cells: [(&str, &str); 4]| {
            let mut fields = TicketFields::default();
            for (column, value) in cells {
                fields.set(column, value.to_string()).unwrap();
            }
            fields.into_ticket()
        };
        let parsed = ticket([
            ("id", "k1"),
            ("customer_id", "c1"),
            ("opened_at", "2026-03-01T09:00:00+08:00"),
            ("severity", "major"),
        ])
        .unwrap();
        assert_eq!(parsed.severity, TicketSeverity::Major);
        assert_eq!(parsed.closed_at, None);
        let fields_of = |result: Result<Ticket, FieldErrors>| -> Vec<String> {
            result
                .unwrap_err()
                .iter()
                .map(|error| error.field.clone())
                .collect()
        };
        assert_eq!(
            fields_of(ticket([
                ("id", ""),
                ("customer_id", "c1"),
                ("opened_at", "2026-03-02"),
                ("closed_at", "2026-03-01"),
            ])),
            ["id", "closed_at"]
        );
        assert_eq!(
            fields_of(ticket([
                ("id", "k2"),
                ("customer_id", "c1"),
                ("opened_at", "2026-03-02"),
                ("severity", "urgent"),
            ])),
            ["severity"]
        );
    }

    #[test]
    fn ticket_service_columns_parse_and_keep_their_order() {
        let ticket = |cells: &[(&str, &str)]| {
            let mut fields = TicketFields::default();
            for (column, value) in [
                ("id", "k1"),
                ("customer_id", "c1"),
                ("opened_at", "2026-03-02T09:00:00Z"),
            ] {
                fields.set(column, value.to_string()).unwrap();
            }
            for (column, value) in cells {
                fields.set(column, value.to_string()).unwrap();
            }
            fields.into_ticket()
        };
        let parsed = ticket(&[
            ("kind", "complaint"),
            ("first_response_at", "2026-03-02T10:00:00Z"),
            ("resolved_at", "2026-03-03T10:00:00Z"),
            ("reopened", "2"),
            ("rating", "4"),
        ])
        .unwrap();
        assert_eq!(parsed.kind, TicketKind::Complaint);
        assert_eq!(parsed.rating, Some(4));
        assert_eq!(parsed.reopened, 2);
        assert_eq!(parsed.resolution_at(), parsed.resolved_at);
        assert_eq!(ticket(&[]).unwrap().kind, TicketKind::Request);
        let fields_of = |cells: &[(&str, &str)]| -> Vec<String> {
            ticket(cells)
                .unwrap_err()
                .iter()
                .map(|error| error.field.clone())
                .collect()
        };
        assert_eq!(
            fields_of(&[
                ("kind", "praise"),
                ("first_response_at", "2026-03-01"),
                ("resolved_at", "yesterday"),
                ("reopened", "-1"),
                ("rating", "6"),
            ]),
            [
                "first_response_at",
                "resolved_at",
                "kind",
                "reopened",
                "rating"
            ]
        );
        // A stored ticket laid under a partial update keeps the columns not given.
        let stored = parsed.clone();
        let mut fields = TicketFields::from_ticket(&stored);
        let mut update = TicketFields::default();
        update.set("id", "k1".to_string()).unwrap();
        update.set("rating", "5".to_string()).unwrap();
        let given = crate::update::GivenColumns::all(["id", "rating"]);
        fields.overlay(update, &given);
        let updated = fields.into_ticket().unwrap();
        assert_eq!(updated.rating, Some(5));
        assert_eq!(updated.kind, TicketKind::Complaint);
        assert_eq!(updated.first_response_at, stored.first_response_at);
    }

    #[test]
    fn content_ids_are_stable_and_count_repeats() {
        let first = content_id("t", &["c1", "2026-03-01", "10"], 0);
        assert_eq!(first, content_id("t", &["c1", "2026-03-01", "10"], 0));
        assert_ne!(first, content_id("t", &["c1", "2026-03-01", "10"], 1));
        // The separator keeps ("c1", "2") and ("c12", "") apart.
        assert_ne!(
            content_id("t", &["c1", "2"], 0),
            content_id("t", &["c12", ""], 0)
        );
    }
}
