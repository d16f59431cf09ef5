//! The documents the API takes and gives that are not store or core types: request bodies as the
//! OpenAPI document describes them, and small response wrappers.

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use allot_core::customer::{StoredType, CUSTOMER_COLUMNS};

/// A customer as in `customers.csv`: one key per column of the customer table (numbers may be
/// sent as JSON numbers), and `attributes` for the `attr.KEY` values. Generated from the
/// core's column table, so it lists exactly the columns the store has.
pub struct CustomerDocument;

impl PartialSchema for CustomerDocument {
    fn schema() -> RefOr<Schema> {
        let nullable =
            |kinds: &[Type]| SchemaType::Array(kinds.iter().cloned().chain([Type::Null]).collect());
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Only the keys given change (a new customer takes the defaults for the others); null or an empty value clears a column. Any key not listed here is refused with 400.",
            ))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        for column in CUSTOMER_COLUMNS {
            let property = ObjectBuilder::new()
                .schema_type(match column.stored_as {
                    StoredType::Text | StoredType::Timestamp => nullable(&[Type::String]),
                    // Numbers may be sent as text, as a CSV cell holds them.
                    StoredType::Integer => nullable(&[Type::Integer, Type::String]),
                    StoredType::Real => nullable(&[Type::Number, Type::String]),
                })
                .description(Some(column.description.trim()));
            object = object.property(column.name, property);
        }
        let attribute_value = ObjectBuilder::new().schema_type(SchemaType::Array(vec![
            Type::String,
            Type::Number,
            Type::Boolean,
            Type::Null,
        ]));
        object = object.property(
            "attributes",
            ObjectBuilder::new()
                .schema_type(nullable(&[Type::Object]))
                .additional_properties(Some(attribute_value))
                .description(Some(
                    "Custom attributes (`attr.KEY` in files): text, numbers or booleans; null removes one.",
                )),
        );
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for CustomerDocument {}

/// A rep as in `reps.csv`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RepDocument {
    id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    team_id: Option<String>,
    /// rep | manager | admin
    role: Option<String>,
    /// junior | mid | senior
    level: Option<String>,
    /// Holding cap (保有量); empty = no cap.
    capacity: Option<u32>,
    weight: Option<f64>,
    /// `|`-separated tags, or an array of them.
    skills: Option<String>,
    active: Option<bool>,
    absent_from: Option<String>,
    absent_until: Option<String>,
}

/// A team as in `teams.csv`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TeamDocument {
    id: Option<String>,
    name: Option<String>,
    parent_id: Option<String>,
    manager_id: Option<String>,
}

/// A ticket as in `tickets.csv`; post it again with `closed_at` to close it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TicketDocument {
    /// Required: the ticket is updated and closed by it.
    id: String,
    customer_id: Option<String>,
    /// YYYY-MM-DD or RFC 3339.
    opened_at: Option<String>,
    /// Empty or absent while open.
    closed_at: Option<String>,
    /// major | general (default general).
    severity: Option<String>,
    subject: Option<String>,
    /// request | complaint (default request).
    kind: Option<String>,
    /// When it was first answered (stops the first-response clock).
    first_response_at: Option<String>,
    /// When it was resolved (stops the resolution clock).
    resolved_at: Option<String>,
    /// How many times it was reopened.
    reopened: Option<i64>,
    /// 1–5 once resolved.
    rating: Option<i64>,
}

/// A transaction as in `transactions.csv`. Negative amounts are refunds.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TransactionDocument {
    /// Optional; without it an id is derived from the content, so a retried POST does not double the purchase.
    id: Option<String>,
    customer_id: String,
    /// YYYY-MM-DD or RFC 3339.
    at: String,
    /// At most two decimals (the cent, 分); a number or its text.
    amount: f64,
    product_line: Option<String>,
}

/// An interaction as in `interactions.csv`, without `customer_id` (it is in the path).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct InteractionDocument {
    id: Option<String>,
    rep_id: String,
    /// YYYY-MM-DD or RFC 3339.
    at: String,
    /// call | visit | email | meeting | message
    kind: String,
    minutes: Option<f64>,
    outcome: Option<String>,
}

/// A TOML document sent as JSON.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    /// The TOML text.
    pub source: String,
}

/// A manual tier with its reason and last day.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierOverrideBody {
    pub tier: String,
    pub reason: String,
    /// Last day of the override (inclusive), YYYY-MM-DD.
    pub expires_on: String,
}

/// A rep with its current load.
#[derive(Serialize, ToSchema)]
pub struct RepRecord {
    #[serde(flatten)]
    pub rep: allot_core::Rep,
    /// Customers owned now.
    pub owned_count: u32,
    /// Sum of the owned customers' workload.
    pub owned_workload: f64,
}

impl From<&allot_core::strategy::RepState> for RepRecord {
    fn from(state: &allot_core::strategy::RepState) -> Self {
        RepRecord {
            rep: state.rep.clone(),
            owned_count: state.load.owned_count,
            owned_workload: state.load.owned_workload,
        }
    }
}

/// The version a document was stored as.
#[derive(Serialize, ToSchema)]
pub struct VersionDocument {
    pub version: i64,
}

/// The stored value policy, or the note that the built-in default applies.
#[derive(Serialize, ToSchema)]
pub struct PolicyDocument {
    pub version: Option<i64>,
    /// The policy's TOML text.
    pub source: Option<String>,
    pub actor: Option<String>,
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A policy to start from, while none is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}
