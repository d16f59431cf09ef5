//! The customer record, declared once: each column's field, type, CSV header and aliases, API
//! name, stored column, export flag and meaning in one table ([`CUSTOMER_COLUMNS`]).
//!
//! The CSV reader and writer, the API documents, partial updates, rule conditions and the
//! store's SQL all work from that table, so a new column is one line of
//! [`customer_columns!`](crate::customer) below plus a migration. Each column's type says how it
//! is parsed from text, written as text, stored and seen by a rule ([`ColumnValue`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::contact::{CreditCode, Email, Phone};
use crate::error::{FieldError, FieldErrors, Problems};
use crate::ids::{CustomerId, Region, RepId};
use crate::text::{parse_optional_timestamp, parse_positive_number, parse_text};
use crate::vocabulary::{StageName, TierName, Vocabulary};

/// How the store keeps a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredType {
    Text,
    Integer,
    Real,
    /// An instant: `timestamptz` on PostgreSQL, fixed-width UTC text on SQLite.
    Timestamp,
}

/// A column's value as the store writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    Null,
    Text(&'a str),
    Integer(i64),
    Real(f64),
    Timestamp(DateTime<Utc>),
}

/// A column's value as the store reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Real(f64),
    Timestamp(DateTime<Utc>),
}

/// What a rule condition sees of a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fact<'a> {
    Text(&'a str),
    Number(f64),
    Unknown,
}

/// How a column may be used in rule conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    Text,
    Number,
    /// Text whose `^=` compares whole `/`-separated segments.
    Region,
}

/// What a column's type must say about itself for the table to handle it.
pub trait ColumnValue: Sized {
    const STORED_AS: StoredType;
    /// Whether the value may be unknown (`null` in JSON).
    const NULLABLE: bool = false;
    /// The value of a column that a new record does not give, or an empty cell.
    fn absent() -> Self;
    /// From the text of a CSV cell or JSON value; errors name `field`.
    fn parse(field: &str, raw: &str, vocabulary: &Vocabulary) -> Result<Self, FieldError>;
    /// As text in a CSV cell (empty when unknown); [`ColumnValue::parse`] reads it back.
    fn text(&self) -> Cow<'_, str>;
    fn cell(&self) -> CellRef<'_>;
    /// From what the store read; the value was checked when written, so only its shape is.
    fn from_cell(cell: Cell) -> Result<Self, String>;
    fn fact(&self) -> Fact<'_>;
}

fn wrong_cell(expected: &str, cell: &Cell) -> String {
    format!("expected {expected}, read {cell:?}")
}

impl ColumnValue for String {
    const STORED_AS: StoredType = StoredType::Text;
    fn absent() -> Self {
        String::new()
    }
    fn parse(field: &str, raw: &str, _: &Vocabulary) -> Result<Self, FieldError> {
        parse_text(field, raw)
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
    fn cell(&self) -> CellRef<'_> {
        CellRef::Text(self)
    }
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Text(text) => Ok(text),
            Cell::Null => Ok(String::new()),
            other => Err(wrong_cell("text", &other)),
        }
    }
    fn fact(&self) -> Fact<'_> {
        if self.is_empty() {
            Fact::Unknown
        } else {
            Fact::Text(self)
        }
    }
}

impl ColumnValue for Region {
    const STORED_AS: StoredType = StoredType::Text;
    fn absent() -> Self {
        Region::default()
    }
    fn parse(field: &str, raw: &str, _: &Vocabulary) -> Result<Self, FieldError> {
        Region::parse(raw).map_err(|error| FieldError::new(field, error.message))
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
    fn cell(&self) -> CellRef<'_> {
        CellRef::Text(self.as_str())
    }
    fn from_cell(cell: Cell) -> Result<Self, String> {
        Region::parse(&String::from_cell(cell)?).map_err(|error| error.to_string())
    }
    fn fact(&self) -> Fact<'_> {
        if self.is_unknown() {
            Fact::Unknown
        } else {
            Fact::Text(self.as_str())
        }
    }
}

/// Service effort of a customer: a weight > 0 and at most [`crate::text::MAXIMUM_WEIGHT`], 1 by
/// default. Loads of reps are sums of workloads.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Workload(f64);

impl Workload {
    pub const DEFAULT: Workload = Workload(1.0);

    pub fn parse(field: &str, raw: &str) -> Result<Workload, FieldError> {
        parse_positive_number(field, raw, 1.0).map(Workload)
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Workload {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <f64 as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Workload {}

impl ColumnValue for Workload {
    const STORED_AS: StoredType = StoredType::Real;
    fn absent() -> Self {
        Workload::DEFAULT
    }
    fn parse(field: &str, raw: &str, _: &Vocabulary) -> Result<Self, FieldError> {
        Workload::parse(field, raw)
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.to_string())
    }
    fn cell(&self) -> CellRef<'_> {
        CellRef::Real(self.0)
    }
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Real(value) if value.is_finite() && value > 0.0 => Ok(Workload(value)),
            Cell::Integer(value) if value > 0 => Ok(Workload(value as f64)),
            other => Err(wrong_cell("a positive workload", &other)),
        }
    }
    fn fact(&self) -> Fact<'_> {
        Fact::Number(self.0)
    }
}

/// A value that may be unknown: an empty cell is `None`.
pub trait OptionalValue: Sized {
    const STORED_AS: StoredType;
    fn parse_present(field: &str, raw: &str, vocabulary: &Vocabulary) -> Result<Self, FieldError>;
    fn text(&self) -> Cow<'_, str>;
    fn cell(&self) -> CellRef<'_>;
    fn from_cell(cell: Cell) -> Result<Self, String>;
    fn fact(&self) -> Fact<'_>;
}

impl<T: OptionalValue> ColumnValue for Option<T> {
    const STORED_AS: StoredType = T::STORED_AS;
    const NULLABLE: bool = true;
    fn absent() -> Self {
        None
    }
    fn parse(field: &str, raw: &str, vocabulary: &Vocabulary) -> Result<Self, FieldError> {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            T::parse_present(field, raw, vocabulary).map(Some)
        }
    }
    fn text(&self) -> Cow<'_, str> {
        self.as_ref().map_or(Cow::Borrowed(""), T::text)
    }
    fn cell(&self) -> CellRef<'_> {
        self.as_ref().map_or(CellRef::Null, T::cell)
    }
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            cell => T::from_cell(cell).map(Some),
        }
    }
    fn fact(&self) -> Fact<'_> {
        self.as_ref().map_or(Fact::Unknown, T::fact)
    }
}

/// Text types stored as they are, each with its own parser.
macro_rules! optional_text_value {
    ($type:ty, |$field:ident, $raw:ident, $vocabulary:ident| $parse:expr, $from_stored:expr) => {
        impl OptionalValue for $type {
            const STORED_AS: StoredType = StoredType::Text;
            fn parse_present(
                $field: &str,
                $raw: &str,
                $vocabulary: &Vocabulary,
            ) -> Result<Self, FieldError> {
                $parse
            }
            fn text(&self) -> Cow<'_, str> {
                Cow::Borrowed(self.as_str())
            }
            fn cell(&self) -> CellRef<'_> {
                CellRef::Text(self.as_str())
            }
            fn from_cell(cell: Cell) -> Result<Self, String> {
                match cell {
                    Cell::Text(text) => ($from_stored)(text),
                    other => Err(wrong_cell("text", &other)),
                }
            }
            fn fact(&self) -> Fact<'_> {
                Fact::Text(self.as_str())
            }
        }
    };
}

optional_text_value!(
    RepId,
    |field, raw, _vocabulary| RepId::parse_field(field, raw),
    |text: String| { RepId::parse(&text).map_err(|error| error.to_string()) }
);
optional_text_value!(
    CustomerId,
    |field, raw, _vocabulary| CustomerId::parse_field(field, raw),
    |text: String| CustomerId::parse(&text).map_err(|error| error.to_string())
);
optional_text_value!(
    TierName,
    |field, raw, vocabulary| vocabulary.tier(field, raw),
    |text: String| Ok(TierName::from_stored(text))
);
optional_text_value!(
    StageName,
    |field, raw, vocabulary| vocabulary.stage(field, raw),
    |text: String| Ok(StageName::from_stored(text))
);
optional_text_value!(
    Phone,
    |field, raw, _vocabulary| Phone::parse(field, raw),
    |text: String| Ok(Phone::from_stored(text))
);
optional_text_value!(
    Email,
    |field, raw, _vocabulary| Email::parse(field, raw),
    |text: String| Ok(Email::from_stored(text))
);
optional_text_value!(
    CreditCode,
    |field, raw, _vocabulary| CreditCode::parse(field, raw),
    |text: String| Ok(CreditCode::from_stored(text))
);

/// Largest `size` (employees) accepted; larger values are typing errors.
pub const MAXIMUM_SIZE: u64 = 100_000_000;

impl OptionalValue for u64 {
    const STORED_AS: StoredType = StoredType::Integer;
    fn parse_present(field: &str, raw: &str, _: &Vocabulary) -> Result<Self, FieldError> {
        let raw = raw.trim();
        raw.parse::<u64>()
            .ok()
            .filter(|value| *value <= MAXIMUM_SIZE)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!(
                        "'{raw}' is not a whole number from 0 to {MAXIMUM_SIZE} (empty means unknown)"
                    ),
                )
            })
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
    fn cell(&self) -> CellRef<'_> {
        CellRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Integer(value) => u64::try_from(value).map_err(|error| error.to_string()),
            other => Err(wrong_cell("a whole number", &other)),
        }
    }
    fn fact(&self) -> Fact<'_> {
        Fact::Number(*self as f64)
    }
}

impl OptionalValue for DateTime<Utc> {
    const STORED_AS: StoredType = StoredType::Timestamp;
    fn parse_present(field: &str, raw: &str, _: &Vocabulary) -> Result<Self, FieldError> {
        parse_optional_timestamp(field, raw)?.ok_or_else(|| FieldError::new(field, "is empty"))
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_rfc3339())
    }
    fn cell(&self) -> CellRef<'_> {
        CellRef::Timestamp(*self)
    }
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Timestamp(time) => Ok(time),
            other => Err(wrong_cell("a time", &other)),
        }
    }
    fn fact(&self) -> Fact<'_> {
        Fact::Unknown
    }
}

/// One column of the customer record.
pub struct CustomerColumn {
    /// API field, canonical CSV header and, for columns rules may read, the condition field.
    pub name: &'static str,
    /// The column of the `customers` table.
    pub sql: &'static str,
    /// Other CSV headers taken for this column (the headers of Chinese spreadsheets).
    pub aliases: &'static [&'static str],
    pub stored_as: StoredType,
    /// Whether the value may be unknown (`null` in JSON).
    pub nullable: bool,
    /// Written by `allot export customers` (and so read back by an import of the export).
    pub exported: bool,
    pub condition: Option<ConditionKind>,
    /// What the column means, for the API document and the README.
    pub description: &'static str,
    parse_into: fn(&mut Customer, &str, &Vocabulary) -> Result<(), FieldError>,
    /// As text (empty when unknown).
    pub text: for<'a> fn(&'a Customer) -> Cow<'a, str>,
    /// As the store writes it.
    pub cell: for<'a> fn(&'a Customer) -> CellRef<'a>,
    /// Sets the column from what the store read.
    pub load: fn(&mut Customer, Cell) -> Result<(), String>,
    /// As a rule condition sees it.
    pub fact: for<'a> fn(&'a Customer) -> Fact<'a>,
    /// Takes the column's value from another record.
    pub copy: fn(&mut Customer, &Customer),
}

impl CustomerColumn {
    /// Whether `header` names this column in a CSV file.
    pub fn is_named(&self, header: &str) -> bool {
        self.name == header || self.aliases.contains(&header)
    }
}

impl std::fmt::Debug for CustomerColumn {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name)
    }
}

/// Declares the customer record: the struct and its column table, from one list.
macro_rules! customer_columns {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $type:ty => $name:literal, sql $sql:literal, aliases [$($alias:literal),*],
            $exported:ident, condition $condition:expr;
    )+) => {
        /// An account that can be owned (客户). Unknown values are `None` or empty.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct Customer {
            $(
                $(#[doc = $doc])+
                #[serde(rename = $name)]
                pub $field: $type,
            )+
            /// Custom attributes (`attr.KEY` columns), kept as text.
            pub attributes: BTreeMap<String, String>,
            /// What the last grading run measured; routing conditions may use it. Computed,
            /// never imported.
            pub value: MeasuredValue,
            /// Time of the newest interaction, kept by interaction imports and the API; not a
            /// CSV column (it follows the interactions, it is not set).
            pub last_interaction_at: Option<DateTime<Utc>>,
        }

        /// The keys a customer body may have: the columns' API names and `attributes`.
        pub static CUSTOMER_FIELD_NAMES: &[&str] = &[$($name,)+ "attributes"];

        /// Every column of [`Customer`], in export order.
        pub static CUSTOMER_COLUMNS: &[CustomerColumn] = &[$(
            CustomerColumn {
                name: $name,
                sql: $sql,
                aliases: &[$($alias),*],
                stored_as: <$type as ColumnValue>::STORED_AS,
                nullable: <$type as ColumnValue>::NULLABLE,
                exported: customer_columns!(@exported $exported),
                condition: $condition,
                description: concat!($($doc, "\n"),+),
                parse_into: |customer, raw, vocabulary| {
                    customer.$field = <$type as ColumnValue>::parse($name, raw, vocabulary)?;
                    Ok(())
                },
                text: |customer| ColumnValue::text(&customer.$field),
                cell: |customer| ColumnValue::cell(&customer.$field),
                load: |customer, cell| {
                    customer.$field = <$type as ColumnValue>::from_cell(cell)?;
                    Ok(())
                },
                fact: |customer| ColumnValue::fact(&customer.$field),
                copy: |customer, from| customer.$field = from.$field.clone(),
            },
        )+];

        impl Customer {
            /// A customer with only an id; every other column absent.
            pub fn new(id: CustomerId) -> Self {
                Customer {
                    $( $field: customer_columns!(@absent $field, id, $type), )+
                    attributes: BTreeMap::new(),
                    value: MeasuredValue::default(),
                    last_interaction_at: None,
                }
            }
        }
    };
    (@exported exported) => { true };
    (@exported internal) => { false };
    (@absent id, $id:ident, $type:ty) => { $id.clone() };
    (@absent $field:ident, $id:ident, $type:ty) => { <$type as ColumnValue>::absent() };
}

/// The id is the record's key: required, never absent. Its table entry lets the same code
/// read, write and name it as any other column.
impl ColumnValue for CustomerId {
    const STORED_AS: StoredType = StoredType::Text;
    fn absent() -> Self {
        unreachable!("a customer is always made with its id")
    }
    fn parse(field: &str, raw: &str, _: &Vocabulary) -> Result<Self, FieldError> {
        CustomerId::parse_field(field, raw)
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
    fn cell(&self) -> CellRef<'_> {
        CellRef::Text(self.as_str())
    }
    fn from_cell(cell: Cell) -> Result<Self, String> {
        CustomerId::parse(&String::from_cell(cell)?).map_err(|error| error.to_string())
    }
    fn fact(&self) -> Fact<'_> {
        Fact::Text(self.as_str())
    }
}

use ConditionKind::{Number as NumberCondition, Region as RegionCondition, Text as TextCondition};

customer_columns! {
    /// Unique id (客户编号), the key of every file and call.
    id: CustomerId => "id", sql "id", aliases ["客户编号", "客户ID"], exported, condition Some(TextCondition);
    /// Name (客户名称); the id when empty.
    name: String => "name", sql "name", aliases ["客户名称", "名称"], exported, condition Some(TextCondition);
    /// Kind of customer, such as 企业 or 个人.
    customer_type: String => "type", sql "customer_type", aliases ["客户类型", "类型"], exported, condition Some(TextCondition);
    /// Industry (行业).
    industry: String => "industry", sql "industry", aliases ["行业"], exported, condition Some(TextCondition);
    /// Region as a path 省/市/区, e.g. 广东/深圳/南山.
    region: Region => "region", sql "region", aliases ["地区", "区域"], exported, condition Some(RegionCondition);
    /// Employees (whole number up to 100,000,000); empty is unknown.
    size: Option<u64> => "size", sql "size", aliases ["规模", "员工数"], exported, condition Some(NumberCondition);
    /// Lifecycle stage, one of the policy's `[customer] stages` (default 线索, 商机, 成交, 流失).
    stage: Option<StageName> => "stage", sql "stage", aliases ["阶段", "客户阶段"], exported, condition Some(TextCondition);
    /// Where the customer came from (来源).
    source: String => "source", sql "source", aliases ["来源", "客户来源"], exported, condition Some(TextCondition);
    /// Tier, one of the value policy's tiers; follows grading once the customer is graded.
    tier: Option<TierName> => "tier", sql "tier", aliases ["客户等级", "等级"], exported, condition Some(TextCondition);
    /// Service effort weight, > 0 and at most 1,000,000, default 1.
    workload: Workload => "workload", sql "workload", aliases ["工作量"], exported, condition Some(NumberCondition);
    /// The rep who first contacted the customer (首问负责), for the first_touch strategy.
    first_touch_rep_id: Option<RepId> => "first_touch_rep_id", sql "first_touch_rep_id", aliases ["首问人"], exported, condition None;
    /// The parent account, for the sticky strategy.
    parent_id: Option<CustomerId> => "parent_id", sql "parent_id", aliases ["上级客户"], exported, condition None;
    /// Phone, normalised: digits, `+` for numbers outside China.
    phone: Option<Phone> => "phone", sql "phone", aliases ["电话", "手机", "联系电话"], exported, condition None;
    /// Email address, in lower case.
    email: Option<Email> => "email", sql "email", aliases ["邮箱", "电子邮件"], exported, condition None;
    /// Unified social credit code (统一社会信用代码), 18 characters with a valid check character.
    credit_code: Option<CreditCode> => "credit_code", sql "credit_code", aliases ["统一社会信用代码", "信用代码"], exported, condition None;
    /// The owner (归属人); empty is the pool.
    owner_id: Option<RepId> => "owner_id", sql "owner_id", aliases ["归属人", "负责人"], exported, condition None;
    /// When the customer was created (RFC 3339 or YYYY-MM-DD); the time of creation unless given.
    created_at: Option<DateTime<Utc>> => "created_at", sql "created_at", aliases ["创建时间"], exported, condition None;
}

/// The API's description of a customer, from the column table like the record itself.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Customer {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
        let typed = |kind: Type, nullable: bool| {
            if nullable {
                SchemaType::Array(vec![kind, Type::Null])
            } else {
                SchemaType::Type(kind)
            }
        };
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "An account that can be owned (客户); unknown values are null or empty.",
            ));
        for column in CUSTOMER_COLUMNS {
            let kind = match column.stored_as {
                StoredType::Text | StoredType::Timestamp => Type::String,
                StoredType::Integer => Type::Integer,
                StoredType::Real => Type::Number,
            };
            object = object
                .property(
                    column.name,
                    ObjectBuilder::new()
                        .schema_type(typed(kind, column.nullable))
                        .description(Some(column.description.trim())),
                )
                .required(column.name);
        }
        object = object
            .property(
                "attributes",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some("Custom attributes (`attr.KEY` columns), as text.")),
            )
            .required("attributes")
            .property("value", <MeasuredValue as utoipa::PartialSchema>::schema())
            .required("value")
            .property(
                "last_interaction_at",
                ObjectBuilder::new()
                    .schema_type(typed(Type::String, true))
                    .description(Some("Time of the newest interaction (RFC 3339).")),
            )
            .required("last_interaction_at");
        utoipa::openapi::RefOr::T(Schema::Object(object.build()))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Customer {}

/// The table entry of a column by its API name.
pub fn customer_column(name: &str) -> Option<&'static CustomerColumn> {
    CUSTOMER_COLUMNS.iter().find(|column| column.name == name)
}

/// The table entry a CSV header names (its name or an alias).
pub fn customer_column_for_header(header: &str) -> Option<&'static CustomerColumn> {
    CUSTOMER_COLUMNS
        .iter()
        .find(|column| column.is_named(header))
}

/// A customer's value as measured by the last grading run (`allot score`); unknown until then.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasuredValue {
    pub score: Option<f64>,
    pub clv: Option<f64>,
    pub p_alive: Option<f64>,
    pub rfm_segment: Option<String>,
}

impl Customer {
    /// This customer with the given columns taken from `incoming` (parsed from the same row).
    /// Checks again what spans columns: a customer cannot become its own parent.
    pub fn updated_with(
        &self,
        incoming: &Customer,
        given: &crate::update::GivenColumns,
    ) -> Result<Customer, FieldErrors> {
        let mut updated = self.clone();
        for column in &CUSTOMER_COLUMNS[1..] {
            if given.contains(column.name) {
                (column.copy)(&mut updated, incoming);
            }
        }
        for key in given.attribute_keys() {
            match incoming.attributes.get(key) {
                Some(value) => {
                    updated.attributes.insert(key.to_string(), value.clone());
                }
                // An empty cell (or null) removes the attribute.
                None => {
                    updated.attributes.remove(key);
                }
            }
        }
        if updated.parent_id.as_ref() == Some(&updated.id) {
            return Err(own_parent_error().into());
        }
        Ok(updated)
    }

    /// The column's value as text (see [`CustomerColumn::text`]).
    pub fn column_text(&self, column: &CustomerColumn) -> Cow<'_, str> {
        (column.text)(self)
    }
}

pub(crate) fn own_parent_error() -> FieldError {
    FieldError::new("parent_id", "a customer cannot be its own parent")
}

/// Attribute keys become condition fields (`attr.KEY`), so they must lex as one word.
pub fn is_attribute_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// A customer as text, as a CSV row or JSON body carries it: the columns it gave (by their
/// table position) and its `attr.KEY` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFields {
    values: Vec<Option<String>>,
    pub attributes: BTreeMap<String, String>,
}

impl Default for CustomerFields {
    fn default() -> Self {
        CustomerFields {
            values: vec![None; CUSTOMER_COLUMNS.len()],
            attributes: BTreeMap::new(),
        }
    }
}

fn column_position(column: &CustomerColumn) -> usize {
    CUSTOMER_COLUMNS
        .iter()
        .position(|known| std::ptr::eq(known, column))
        .expect("a column of the table")
}

impl CustomerFields {
    /// Sets one CSV column by its header or an alias; `attr.KEY` columns go to the attributes.
    pub fn set(&mut self, header: &str, value: String) -> Result<(), FieldError> {
        if let Some(key) = header.strip_prefix("attr.") {
            if !is_attribute_key(key) {
                return Err(FieldError::new(
                    header,
                    "attribute columns are named attr.KEY with letters, digits, '_' or '-'",
                ));
            }
            self.attributes.insert(key.to_string(), value);
            return Ok(());
        }
        let column = customer_column_for_header(header).ok_or_else(|| {
            FieldError::new(
                header,
                format!(
                    "unknown column '{header}'; expected {} (custom attributes are written attr.KEY)",
                    CUSTOMER_COLUMNS
                        .iter()
                        .map(|column| column.name)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            )
        })?;
        self.values[column_position(column)] = Some(value);
        Ok(())
    }

    /// The text given for a column (by API name), if it was given.
    pub fn get(&self, name: &str) -> Option<&str> {
        let column = customer_column(name)?;
        self.values[column_position(column)].as_deref()
    }

    /// The id as given (empty when not given).
    pub fn id(&self) -> &str {
        self.values[0].as_deref().unwrap_or("")
    }

    pub fn set_id(&mut self, id: &str) {
        self.values[0] = Some(id.to_string());
    }

    /// Removes a column, as if it had not been given.
    pub fn remove(&mut self, name: &str) {
        if let Some(column) = customer_column(name) {
            self.values[column_position(column)] = None;
        }
    }

    /// The record these fields describe: the given columns parsed, with tiers and stages checked
    /// against `vocabulary`, and every other column absent. Every bad value is reported.
    pub fn into_customer(self, vocabulary: &Vocabulary) -> Result<Customer, FieldErrors> {
        let mut problems = Problems::default();
        let Some(id) = problems.take(CustomerId::parse_field("id", self.id())) else {
            // Without an id there is nothing to check the other values of; report them anyway.
            let mut scratch = Customer::new(CustomerId::parse("-").expect("a valid id"));
            self.parse_columns(&mut scratch, vocabulary, &mut problems);
            return problems.finish(|| None);
        };
        let mut customer = Customer::new(id);
        let attributes = self.parse_columns(&mut customer, vocabulary, &mut problems);
        customer.attributes = attributes;
        if customer.parent_id.as_ref() == Some(&customer.id) {
            problems.push(own_parent_error());
        }
        // Every record has something to show.
        if customer.name.is_empty() {
            customer.name = customer.id.to_string();
        }
        problems.finish(|| Some(customer))
    }

    fn parse_columns(
        &self,
        customer: &mut Customer,
        vocabulary: &Vocabulary,
        problems: &mut Problems,
    ) -> BTreeMap<String, String> {
        for (column, value) in CUSTOMER_COLUMNS.iter().zip(&self.values).skip(1) {
            if let Some(raw) = value {
                problems.take((column.parse_into)(customer, raw, vocabulary));
            }
        }
        let mut attributes = BTreeMap::new();
        for (key, value) in &self.attributes {
            let key = key.trim();
            let field = format!("attr.{key}");
            if !is_attribute_key(key) {
                problems.push(FieldError::new(
                    field,
                    "attribute names use letters, digits, '_' or '-'",
                ));
                continue;
            }
            // An empty attribute is the same as a missing one: unknown.
            if let Some(value) = problems.take(crate::text::parse_free_text(&field, value)) {
                if !value.is_empty() {
                    attributes.insert(key.to_string(), value);
                }
            }
        }
        attributes
    }

    /// Every exported column of a stored customer, as an export writes it.
    pub fn from_customer(customer: &Customer) -> Self {
        CustomerFields {
            values: CUSTOMER_COLUMNS
                .iter()
                .map(|column| {
                    column
                        .exported
                        .then(|| (column.text)(customer).into_owned())
                })
                .collect(),
            attributes: customer.attributes.clone(),
        }
    }

    /// The header of an export: the exported columns, then `attr.KEY` for each key.
    pub fn export_header(attribute_keys: &[String]) -> Vec<String> {
        CUSTOMER_COLUMNS
            .iter()
            .filter(|column| column.exported)
            .map(|column| column.name.to_string())
            .chain(attribute_keys.iter().map(|key| format!("attr.{key}")))
            .collect()
    }

    /// Values in [`CustomerFields::export_header`] order.
    pub fn values(&self, attribute_keys: &[String]) -> Vec<String> {
        CUSTOMER_COLUMNS
            .iter()
            .zip(&self.values)
            .filter(|(column, _)| column.exported)
            .map(|(_, value)| value.clone().unwrap_or_default())
            .chain(
                attribute_keys
                    .iter()
                    .map(|key| self.attributes.get(key).cloned().unwrap_or_default()),
            )
            .collect()
    }

    /// The columns given, by API name, and each attribute as `attr.KEY`.
    pub fn given_columns(&self) -> crate::update::GivenColumns {
        crate::update::GivenColumns::all(
            CUSTOMER_COLUMNS
                .iter()
                .zip(&self.values)
                .filter(|(_, value)| value.is_some())
                .map(|(column, _)| column.name.to_string())
                .chain(self.attributes.keys().map(|key| format!("attr.{key}")))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        )
    }
}

/// A JSON scalar as the text a CSV cell would hold: a string, number or boolean as written,
/// null as empty. Arrays and objects are refused while the value is read, so the error carries
/// the key it was under.
struct ScalarText(String);

impl<'de> serde::Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        crate::input::scalar_text::<D::Error>(value).map(ScalarText)
    }
}

/// A JSON body: keys are the columns' API names and `attributes`; values may be text, numbers,
/// booleans or null (an empty cell). Any other key is refused, naming it.
impl<'de> serde::Deserialize<'de> for CustomerFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
            type Value = CustomerFields;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object of customer fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<CustomerFields, A::Error> {
                let mut fields = CustomerFields::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "attributes" {
                        let attributes: Option<BTreeMap<String, ScalarText>> = map.next_value()?;
                        for (name, ScalarText(text)) in attributes.unwrap_or_default() {
                            fields.attributes.insert(name, text);
                        }
                        continue;
                    }
                    let Some(column) = customer_column(&key) else {
                        return Err(serde::de::Error::unknown_field(&key, CUSTOMER_FIELD_NAMES));
                    };
                    let ScalarText(text) = map.next_value()?;
                    fields.values[column_position(column)] = Some(text);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// The given columns as a JSON object of text, and `attributes` (what a client sends).
impl Serialize for CustomerFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (column, value) in CUSTOMER_COLUMNS.iter().zip(&self.values) {
            if let Some(value) = value {
                map.serialize_entry(column.name, value)?;
            }
        }
        if !self.attributes.is_empty() {
            map.serialize_entry("attributes", &self.attributes)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(columns: &[(&str, &str)]) -> CustomerFields {
        let mut fields = CustomerFields::default();
        for (column, value) in columns {
            fields.set(column, value.to_string()).unwrap();
        }
        fields
    }

    fn check_error(column: &str, value: &str, expected_field: &str) {
        let errors = fields(&[("id", "c1"), (column, value)])
            .into_customer(&Vocabulary::default())
            .unwrap_err();
        assert_eq!(
            errors.first().field,
            expected_field,
            "{column}={value}: {errors}"
        );
    }

    #[test]
    fn customer_fields_name_the_bad_field() {
        check_error("size", "many", "size");
        check_error("size", "-3", "size");
        check_error("workload", "0", "workload");
        check_error("region", "广东//深圳", "region");
        check_error("owner_id", "a/b", "owner_id");
        check_error("created_at", "yesterday", "created_at");
        check_error("parent_id", "c1", "parent_id");
        check_error("id", " ", "id");
        check_error("tier", "Z", "tier");
        check_error("tier", "a\u{0}b", "tier");
        check_error("stage", "潜在", "stage");
        check_error("phone", "1\n2", "phone");
        check_error("email", "nobody", "email");
        check_error("credit_code", "91350100M000100Y44", "credit_code");
        check_error("region", "广东/\u{0}", "region");
        check_error("attr.note", "x\u{0}", "attr.note");
        check_error("workload", "1e308", "workload");
        check_error("size", "1000000000000", "size");
        // Free text may hold line breaks.
        assert!(fields(&[("id", "c1"), ("attr.note", "第一行\n第二行")])
            .into_customer(&Vocabulary::default())
            .is_ok());
    }

    #[test]
    fn every_bad_value_is_reported() {
        let errors = fields(&[("id", ""), ("size", "x"), ("tier", "Z")])
            .into_customer(&Vocabulary::default())
            .unwrap_err();
        let named: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(named, ["id", "size", "tier"]);
    }

    #[test]
    fn customers_round_trip_through_fields() {
        let customer = fields(&[
            ("id", "c1"),
            ("客户名称", "深圳云帆科技有限公司"),
            ("region", "广东/深圳/南山"),
            ("size", "120"),
            ("tier", "A"),
            ("stage", "商机"),
            ("owner_id", "r1"),
            ("phone", "+86 138 0013 8000"),
            ("email", "Info@YunFan.cn"),
            ("credit_code", "91350100M000100Y43"),
            ("attr.annual_revenue", "5000000"),
            ("created_at", "2026-03-01T08:00:00Z"),
        ])
        .into_customer(&Vocabulary::default())
        .unwrap();
        assert_eq!(customer.name, "深圳云帆科技有限公司");
        assert_eq!(customer.size, Some(120));
        assert_eq!(customer.phone.as_ref().unwrap().as_str(), "13800138000");
        assert_eq!(customer.email.as_ref().unwrap().as_str(), "info@yunfan.cn");
        assert_eq!(customer.attributes["annual_revenue"], "5000000");
        let exported = CustomerFields::from_customer(&customer);
        let again = exported.into_customer(&Vocabulary::default()).unwrap();
        assert_eq!(again, customer);
        assert!(CustomerFields::default()
            .set("colour", String::new())
            .is_err());
    }

    #[test]
    fn json_bodies_accept_numbers_and_refuse_unknown_keys() {
        let fields: CustomerFields = serde_json::from_str(
            r#"{"id":"c9","size":120,"workload":2.5,"attributes":{"score":7,"note":"好"}}"#,
        )
        .unwrap();
        let customer = fields.into_customer(&Vocabulary::default()).unwrap();
        assert_eq!(customer.size, Some(120));
        assert_eq!(customer.workload.get(), 2.5);
        assert_eq!(customer.attributes["score"], "7");
        let unknown = serde_json::from_str::<CustomerFields>(r#"{"id":"c9","colour":"red"}"#)
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown field `colour`"), "{unknown}");
        let nested = serde_json::from_str::<CustomerFields>(r#"{"id":"c9","name":["a"]}"#);
        assert!(nested.is_err());
    }

    fn given(columns: &[(&str, &str)]) -> crate::update::GivenColumns {
        let header: Vec<String> = columns
            .iter()
            .map(|(column, _)| column.to_string())
            .collect();
        crate::update::GivenColumns::from_header(&header)
    }

    fn check_update(update: &[(&str, &str)], expected: &[(&str, &str)]) {
        let vocabulary = Vocabulary::default();
        let stored = fields(&[
            ("id", "c1"),
            ("name", "云帆科技"),
            ("region", "广东/深圳"),
            ("tier", "B"),
            ("owner_id", "r1"),
            ("attr.revenue", "500"),
            ("attr.note", "老客户"),
        ])
        .into_customer(&vocabulary)
        .unwrap();
        let incoming = fields(update).into_customer(&vocabulary).unwrap();
        let updated = stored.updated_with(&incoming, &given(update)).unwrap();
        for (column, value) in expected {
            let actual = match column.strip_prefix("attr.") {
                Some(key) => updated.attributes.get(key).cloned().unwrap_or_default(),
                None => updated
                    .column_text(customer_column(column).unwrap())
                    .into_owned(),
            };
            assert_eq!(actual, *value, "{update:?}: {column}");
        }
    }

    #[test]
    fn only_given_columns_change() {
        // An enrichment file with id and tier keeps everything else.
        check_update(
            &[("id", "c1"), ("tier", "A")],
            &[
                ("tier", "A"),
                ("name", "云帆科技"),
                ("region", "广东/深圳"),
                ("owner_id", "r1"),
                ("attr.revenue", "500"),
            ],
        );
        // An empty owner cell releases; an absent owner column keeps.
        check_update(&[("id", "c1"), ("owner_id", "")], &[("owner_id", "")]);
        // Attributes change one key at a time; an empty cell removes one.
        check_update(
            &[("id", "c1"), ("attr.revenue", "900"), ("attr.note", "")],
            &[("attr.revenue", "900"), ("attr.note", "")],
        );
        // A given but empty name falls back to the id, as on creation.
        check_update(&[("id", "c1"), ("name", "")], &[("name", "c1")]);
    }

    #[test]
    fn merged_records_are_checked_again() {
        let vocabulary = Vocabulary::default();
        let stored = fields(&[("id", "c1")]).into_customer(&vocabulary).unwrap();
        let incoming = fields(&[("id", "c2"), ("parent_id", "c1")])
            .into_customer(&vocabulary)
            .unwrap();
        assert!(stored
            .updated_with(&incoming, &given(&[("parent_id", "c1")]))
            .is_err());
    }

    #[test]
    fn only_given_tiers_are_checked_against_the_vocabulary() {
        // A stored customer may hold a tier the policy no longer has; an update of its name
        // does not touch it.
        let mut stored = Customer::new(CustomerId::parse("c1").unwrap());
        stored.tier = Some(TierName::from_stored("旧"));
        let update = [("id", "c1"), ("name", "新名字")];
        let incoming = fields(&update)
            .into_customer(&Vocabulary::default())
            .unwrap();
        let updated = stored.updated_with(&incoming, &given(&update)).unwrap();
        assert_eq!(updated.tier.as_ref().unwrap().as_str(), "旧");
        assert_eq!(updated.name, "新名字");
    }

    #[test]
    fn headers_name_one_column_each() {
        // Headers and aliases name one column each.
        let mut headers: Vec<&str> = CUSTOMER_COLUMNS
            .iter()
            .flat_map(|column| std::iter::once(column.name).chain(column.aliases.iter().copied()))
            .collect();
        let count = headers.len();
        headers.sort_unstable();
        headers.dedup();
        assert_eq!(headers.len(), count, "a header names two columns");
    }
}
