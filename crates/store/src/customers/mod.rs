//! Customers: the SQL of their columns, generated from the core's column table, and reading them
//! (one, a set by id, a filtered page, the pool and the whole table in chunks).

pub mod forget;
pub(crate) mod import;
pub(crate) mod write;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use allot_core::customer::{Cell, CustomerColumn, MeasuredValue, StoredType, CUSTOMER_COLUMNS};
use allot_core::{Customer, CustomerId, RepId, TierName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::database::direct::with_direct_sqlite;
use crate::database::{
    keyset_page, on_backend, sql, Connected, Connection, Dialect, ReadTransaction, TextList,
    KEYSET_CHUNK, LIST_CHUNK,
};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

pub use import::{CustomerImportRow, CustomerWrite, OwnerChangeSource};

/// `FROM` of every customer read: the customer and the measured value of its last grading.
const CUSTOMERS_FROM: &str =
    "customers LEFT JOIN customer_values AS measured ON measured.customer_id = customers.id";

/// Which of a customer's columns a read fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CustomerRead {
    /// Every column, the custom attributes, the last interaction and the measured values.
    Full,
    /// What a rebalance needs of a customer that stays with its owner (its load, its move
    /// penalty and its owner's home province): the columns of [`BRIEF_COLUMNS`], the rest left
    /// at their defaults. No join with the measured values and no attributes to parse.
    Brief,
}

/// The columns of a [`CustomerRead::Brief`] read, by their API names.
const BRIEF_COLUMNS: &[&str] = &["id", "industry", "region", "tier", "workload", "owner_id"];

impl CustomerRead {
    /// The columns the read fills, id first, in the order it selects them; a full read selects
    /// the six extras of [`select_list`] after them (attributes, last interaction, four
    /// measured values).
    fn columns(self) -> &'static [&'static CustomerColumn] {
        static FULL: OnceLock<Vec<&'static CustomerColumn>> = OnceLock::new();
        static BRIEF: OnceLock<Vec<&'static CustomerColumn>> = OnceLock::new();
        match self {
            CustomerRead::Full => FULL.get_or_init(|| CUSTOMER_COLUMNS.iter().collect()),
            CustomerRead::Brief => BRIEF.get_or_init(|| {
                let columns: Vec<&'static CustomerColumn> = CUSTOMER_COLUMNS
                    .iter()
                    .filter(|column| BRIEF_COLUMNS.contains(&column.name))
                    .collect();
                debug_assert_eq!(columns.len(), BRIEF_COLUMNS.len(), "a brief column's name");
                columns
            }),
        }
    }

    /// `SELECT … FROM …` of the read, without a condition or an order.
    fn select_from(self) -> &'static str {
        static FULL: OnceLock<String> = OnceLock::new();
        static BRIEF: OnceLock<String> = OnceLock::new();
        match self {
            CustomerRead::Full => {
                FULL.get_or_init(|| format!("SELECT {} FROM {CUSTOMERS_FROM}", select_list()))
            }
            CustomerRead::Brief => BRIEF.get_or_init(|| {
                let columns: Vec<String> = self
                    .columns()
                    .iter()
                    .map(|column| format!("customers.{}", column.sql))
                    .collect();
                format!("SELECT {} FROM customers", columns.join(", "))
            }),
        }
    }
}

/// Sets `column` of `customer` from its stored `cell`, naming both when the cell is bad.
fn load_column(customer: &mut Customer, column: &CustomerColumn, cell: Cell) -> StoreResult<()> {
    (column.load)(customer, cell).map_err(|error| {
        corrupt(format!(
            "customer {}: {}: {error}",
            customer.id, column.name
        ))
    })
}

/// The columns read for a customer: the table's columns in the core's order, then the
/// attributes, the last interaction and the four measured values rules may read.
fn select_list() -> &'static str {
    static LIST: OnceLock<String> = OnceLock::new();
    LIST.get_or_init(|| {
        CUSTOMER_COLUMNS
            .iter()
            .map(|column| format!("customers.{}", column.sql))
            .chain(
                [
                    "customers.attributes",
                    "customers.last_interaction_at",
                    "measured.score",
                    "measured.clv",
                    "measured.p_alive",
                    "measured.rfm_segment",
                ]
                .map(str::to_string),
            )
            .collect::<Vec<_>>()
            .join(", ")
    })
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// The customers a statement built with [`select_list`] (or `$what`'s columns) reads, on
/// `$connection`.
macro_rules! fetch_customers {
    ($query:expr, $connection:expr) => {
        fetch_customers!($query, $connection, CustomerRead::Full)
    };
    ($query:expr, $connection:expr, $what:expr) => {
        $query
            .build()
            .fetch_all(&mut *$connection)
            .await?
            .iter()
            .map(|row| customer_from_row(row, $what))
            .collect::<StoreResult<Vec<Customer>>>()?
    };
}

/// The customers after `after` in id order, [`KEYSET_CHUNK`] of them, through sqlx.
async fn customer_page(
    read: &mut ReadTransaction,
    after: Option<&str>,
    what: CustomerRead,
) -> StoreResult<Vec<Customer>> {
    Ok(on_backend!(read, |connection, Db| {
        let mut query = sql!(Db; what.select_from());
        keyset_page!(query, Db::byte_order("customers.id"), after);
        fetch_customers!(query, connection, what)
    }))
}

/// Every customer, ordered by id, a chunk at a time, inside the caller's read. On SQLite one
/// statement on the connection's own handle: a million customers handed one by one from sqlx's
/// worker thread took 22 s, most of a simulation's time.
pub(crate) async fn for_each_customer_in<E: From<StoreError> + Send>(
    read: &mut ReadTransaction,
    what: CustomerRead,
    mut each: impl FnMut(&[Customer]) -> Result<(), E> + Send,
) -> Result<(), E> {
    match read.connection() {
        Connection::Sqlite(connection) => {
            let statement = format!("{} ORDER BY customers.id", what.select_from());
            with_direct_sqlite(connection, move |direct| {
                let mut prepared = direct.prepare(&statement)?;
                let mut rows = prepared.query([])?;
                let mut chunk = Vec::with_capacity(KEYSET_CHUNK as usize);
                while let Some(row) = rows.next()? {
                    chunk.push(customer_from_direct_row(row, what)?);
                    if chunk.len() == KEYSET_CHUNK as usize {
                        if let Err(error) = each(&chunk) {
                            return Ok(Err(error));
                        }
                        chunk.clear();
                    }
                }
                Ok(each(&chunk))
            })
            .await?
        }
        Connection::Postgres(_) => {
            crate::database::Database::for_each_chunk_by_key_in(
                read,
                async move |read: &mut ReadTransaction, after: Option<&str>| {
                    customer_page(read, after, what).await
                },
                |customer| customer.id.as_str(),
                each,
            )
            .await
        }
    }
}

/// A customer from a row of `what`'s read, on either backend.
pub(crate) fn customer_from_row<'r, R>(row: &'r R, what: CustomerRead) -> StoreResult<Customer>
where
    R: Row,
    usize: ColumnIndex<R>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
    Option<StoredTime>: Decode<'r, R::Database> + Type<R::Database>,
    Json<BTreeMap<String, String>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: Option<String> = row.try_get(0)?;
    let id = CustomerId::parse(&id.unwrap_or_default()).map_err(corrupt)?;
    let mut customer = Customer::new(id);
    let columns = what.columns();
    for (index, column) in columns.iter().enumerate().skip(1) {
        let cell = match column.stored_as {
            StoredType::Text => row
                .try_get::<Option<String>, _>(index)?
                .map_or(Cell::Null, Cell::Text),
            StoredType::Integer => row
                .try_get::<Option<i64>, _>(index)?
                .map_or(Cell::Null, Cell::Integer),
            StoredType::Real => row
                .try_get::<Option<f64>, _>(index)?
                .map_or(Cell::Null, Cell::Real),
            StoredType::Timestamp => row
                .try_get::<Option<StoredTime>, _>(index)?
                .map_or(Cell::Null, |time| Cell::Timestamp(time.0)),
        };
        load_column(&mut customer, column, cell)?;
    }
    if what == CustomerRead::Brief {
        return Ok(customer);
    }
    let after = columns.len();
    customer.attributes = row.try_get::<Json<BTreeMap<String, String>>, _>(after)?.0;
    customer.last_interaction_at = row
        .try_get::<Option<StoredTime>, _>(after + 1)?
        .map(|time| time.0);
    customer.value = MeasuredValue {
        score: row.try_get(after + 2)?,
        clv: row.try_get(after + 3)?,
        p_alive: row.try_get(after + 4)?,
        rfm_segment: row.try_get(after + 5)?,
    };
    Ok(customer)
}

/// The stored customers among `ids`, by id.
pub(crate) async fn load_customers(
    source: &mut impl Connected,
    ids: &[&str],
) -> StoreResult<HashMap<String, Customer>> {
    let mut found = HashMap::with_capacity(ids.len());
    if let Connection::Sqlite(connection) = source.connection() {
        // On the connection's own handle: no hand-off of every row from sqlx's worker thread.
        return with_direct_sqlite(connection, |direct| {
            for chunk in ids.chunks(LIST_CHUNK) {
                let sql = format!(
                    "SELECT {} FROM {CUSTOMERS_FROM} WHERE customers.id IN ({})",
                    select_list(),
                    vec!["?"; chunk.len()].join(", ")
                );
                let mut statement = direct.prepare_cached(&sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
                while let Some(row) = rows.next()? {
                    let customer = customer_from_direct_row(row, CustomerRead::Full)?;
                    found.insert(customer.id.to_string(), customer);
                }
            }
            Ok(found)
        })
        .await;
    }
    for chunk in ids.chunks(LIST_CHUNK) {
        let customers: Vec<Customer> = on_backend!(source, |connection, Db| {
            let mut query =
                sql!(Db; format!("SELECT {} FROM {CUSTOMERS_FROM} WHERE ", select_list()));
            query.push_in_list("customers.id", chunk);
            fetch_customers!(query, connection)
        });
        for customer in customers {
            found.insert(customer.id.to_string(), customer);
        }
    }
    Ok(found)
}

/// Where [`read_pool_chunk`] goes on from: the last customer read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolPosition {
    created_at: Option<DateTime<Utc>>,
    id: String,
}

impl PoolPosition {
    pub(crate) fn after(customer: &Customer) -> PoolPosition {
        PoolPosition {
            created_at: customer.created_at,
            id: customer.id.to_string(),
        }
    }
}

/// The next `limit` customers of the pool in routing order (oldest first, those without a
/// creation time after the others, then by id), after `after`. Each chunk is a range scan of
/// the pool index, so a pool of a million is read a chunk at a time. On SQLite the rows are read
/// on the connection's own handle (`database::direct`).
pub(crate) async fn read_pool_chunk(
    source: &mut impl Connected,
    after: Option<&PoolPosition>,
    limit: usize,
) -> StoreResult<Vec<Customer>> {
    match source.connection() {
        Connection::Sqlite(connection) => {
            with_direct_sqlite(connection, |direct| {
                read_pool_chunk_direct(direct, after, limit)
            })
            .await
        }
        Connection::Postgres(connection) => {
            read_pool_chunk_postgres(connection, after, limit as i64).await
        }
    }
}

/// The head of a pool read on PostgreSQL: the columns, and the pool's own condition.
fn pool_head() -> String {
    format!(
        "SELECT {} FROM {CUSTOMERS_FROM} WHERE customers.owner_id IS NULL AND ",
        select_list()
    )
}

fn read_pool_chunk_direct(
    direct: &rusqlite::Connection,
    after: Option<&PoolPosition>,
    limit: usize,
) -> StoreResult<Vec<Customer>> {
    // Named: without statistics SQLite's planner took the owner index for `owner_id IS NULL`
    // and sorted the whole pool for every chunk (a million-customer route spent 14 s reading).
    let head = format!(
        "SELECT {} FROM customers INDEXED BY customers_pool_order \
         LEFT JOIN customer_values AS measured ON measured.customer_id = customers.id \
         WHERE customers.owner_id IS NULL AND ",
        select_list()
    );
    let mut customers = Vec::with_capacity(limit);
    let read = |customers: &mut Vec<Customer>,
                sql: String,
                parameters: &[&dyn rusqlite::ToSql]|
     -> StoreResult<()> {
        let mut statement = direct.prepare_cached(&sql)?;
        let mut rows = statement.query(parameters)?;
        while let Some(row) = rows.next()? {
            customers.push(customer_from_direct_row(row, CustomerRead::Full)?);
        }
        Ok(())
    };
    let limit_number = limit as i64;
    match after {
        Some(PoolPosition {
            created_at: Some(time),
            id,
        }) => read(
            &mut customers,
            format!("{head}customers.created_at IS NOT NULL AND (customers.created_at, customers.id) > (?, ?) ORDER BY customers.created_at, customers.id LIMIT ?"),
            &[&StoredTime(*time).text(), id, &limit_number],
        )?,
        None => read(
            &mut customers,
            format!("{head}customers.created_at IS NOT NULL ORDER BY customers.created_at, customers.id LIMIT ?"),
            &[&limit_number],
        )?,
        Some(PoolPosition { created_at: None, id }) => read(
            &mut customers,
            format!("{head}customers.created_at IS NULL AND customers.id > ? ORDER BY customers.id LIMIT ?"),
            &[id, &limit_number],
        )?,
    }
    // The timed part is exhausted: the customers without a time follow in the same chunk.
    let timed_done = after.is_none_or(|position| position.created_at.is_some());
    if timed_done && customers.len() < limit {
        let left = (limit - customers.len()) as i64;
        read(
            &mut customers,
            format!("{head}customers.created_at IS NULL ORDER BY customers.id LIMIT ?"),
            &[&left],
        )?;
    }
    Ok(customers)
}

async fn read_pool_chunk_postgres(
    connection: &mut sqlx::PgConnection,
    after: Option<&PoolPosition>,
    limit: i64,
) -> StoreResult<Vec<Customer>> {
    type Db = sqlx::Postgres;
    let head = pool_head();
    let id_order = Db::byte_order("customers.id");
    let mut query = match after {
        // Customers with a creation time come first: go on after the last one read, or start
        // with those without one once they are done.
        Some(PoolPosition {
            created_at: Some(time),
            id,
        }) => sql!(Db; head.as_str(),
            // A row comparison: the index range scan starts there.
            format!("customers.created_at IS NOT NULL AND (customers.created_at, {id_order}) > ("),
            bind(StoredTime(*time)), ", ", bind(id.as_str()), ")",
            format!(" ORDER BY customers.created_at, {id_order} LIMIT "), bind(limit)),
        None => sql!(Db; head.as_str(),
            format!("customers.created_at IS NOT NULL ORDER BY customers.created_at, {id_order} LIMIT "), bind(limit)),
        Some(PoolPosition {
            created_at: None,
            id,
        }) => sql!(Db; head.as_str(),
            "customers.created_at IS NULL AND ", id_order.as_str(), " > ", bind(id.as_str()),
            format!(" ORDER BY {id_order} LIMIT "), bind(limit)),
    };
    let mut customers: Vec<Customer> = fetch_customers!(query, connection);
    let timed_done = after.is_none_or(|position| position.created_at.is_some());
    if timed_done && (customers.len() as i64) < limit {
        let left = limit - customers.len() as i64;
        let mut query = sql!(Db; head.as_str(),
            format!("customers.created_at IS NULL ORDER BY {id_order} LIMIT "), bind(left));
        for row in query.build().fetch_all(&mut *connection).await? {
            customers.push(customer_from_row(&row, CustomerRead::Full)?);
        }
    }
    Ok(customers)
}

/// A customer from a row of `what`'s read directly from SQLite.
fn customer_from_direct_row(row: &rusqlite::Row<'_>, what: CustomerRead) -> StoreResult<Customer> {
    use rusqlite::types::ValueRef;
    let text = |index: usize| -> StoreResult<Option<String>> {
        match row.get_ref(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => Ok(Some(
                std::str::from_utf8(bytes).map_err(corrupt)?.to_string(),
            )),
            other => Err(corrupt(format!("column {index}: {other:?} is not text"))),
        }
    };
    let real = |index: usize| -> StoreResult<Option<f64>> {
        Ok(match row.get_ref(index)? {
            ValueRef::Null => None,
            ValueRef::Real(number) => Some(number),
            ValueRef::Integer(number) => Some(number as f64),
            other => {
                return Err(corrupt(format!(
                    "column {index}: {other:?} is not a number"
                )))
            }
        })
    };
    let time = |index: usize| -> StoreResult<Option<chrono::DateTime<Utc>>> {
        text(index)?
            .map(|raw| crate::database::time::parse_stored_time(&raw).map_err(corrupt))
            .transpose()
    };
    let id = CustomerId::parse(&text(0)?.unwrap_or_default()).map_err(corrupt)?;
    let mut customer = Customer::new(id);
    let columns = what.columns();
    for (index, column) in columns.iter().enumerate().skip(1) {
        let cell = match column.stored_as {
            StoredType::Text => text(index)?.map_or(Cell::Null, Cell::Text),
            StoredType::Integer => match row.get_ref(index)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(number) => Cell::Integer(number),
                other => {
                    return Err(corrupt(format!(
                        "{}: {other:?} is not a whole number",
                        column.name
                    )))
                }
            },
            StoredType::Real => real(index)?.map_or(Cell::Null, Cell::Real),
            StoredType::Timestamp => time(index)?.map_or(Cell::Null, Cell::Timestamp),
        };
        load_column(&mut customer, column, cell)?;
    }
    if what == CustomerRead::Brief {
        return Ok(customer);
    }
    let after = columns.len();
    customer.attributes = match text(after)? {
        Some(json) => serde_json::from_str(&json).map_err(corrupt)?,
        None => BTreeMap::new(),
    };
    customer.last_interaction_at = time(after + 1)?;
    customer.value = MeasuredValue {
        score: real(after + 2)?,
        clv: real(after + 3)?,
        p_alive: real(after + 4)?,
        rfm_segment: text(after + 5)?,
    };
    Ok(customer)
}

/// Filters and paging for listing customers.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub owner_id: Option<RepId>,
    /// `Some(true)`: only customers in the pool; `Some(false)`: only owned ones.
    pub in_pool: Option<bool>,
    pub tier: Option<TierName>,
    /// Whole-segment region prefix, e.g. `广东` or `广东/深圳`.
    pub region: Option<String>,
    /// Part of the id, the name or (in digits) the phone number.
    pub search: Option<String>,
    /// The RFM segment of the last grading run (as the value report names it).
    pub segment: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Only customers in this view (the caller's); all when `None`.
    pub view: Option<crate::lifecycle::View>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerPage {
    /// Customers matching the filter, over all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub items: Vec<Customer>,
}

/// Appends the filter's conditions, each a bound value.
macro_rules! push_filter {
    ($query:ident, $Db:ident, $filter:expr, $region:expr, $search:expr, $phone_digits:expr, $view_reps:expr) => {{
        $query.push(" WHERE 1 = 1");
        crate::lifecycle::push_in_view!(
            $query,
            $filter.view.as_ref(),
            $view_reps,
            "customers.id",
            "customers.owner_id"
        );
        if let Some(owner) = &$filter.owner_id {
            $query
                .push(" AND customers.owner_id = ")
                .push_bind(owner.as_str());
        }
        match $filter.in_pool {
            Some(true) => {
                $query.push(" AND customers.owner_id IS NULL");
            }
            Some(false) => {
                $query.push(" AND customers.owner_id IS NOT NULL");
            }
            None => {}
        }
        if let Some(tier) = &$filter.tier {
            $query
                .push(" AND customers.tier = ")
                .push_bind(tier.as_str());
        }
        if let Some(region) = $region {
            $query
                .push(" AND (customers.region = ")
                .push_bind(region)
                .push(" OR substr(customers.region, 1, ")
                .push_bind(i32::try_from(region.chars().count() + 1).unwrap_or(i32::MAX))
                .push(") = ")
                .push_bind(format!("{region}/"))
                .push(")");
        }
        if let Some(segment) = &$filter.segment {
            $query
                .push(" AND EXISTS (SELECT 1 FROM customer_values WHERE customer_values.customer_id = customers.id AND customer_values.rfm_segment = ")
                .push_bind(segment.as_str())
                .push(")");
        }
        if let Some(search) = $search {
            // Ids and names match whatever the case of their letters.
            let position = <$Db as Dialect>::POSITION_FUNCTION;
            let folded = <$Db as Dialect>::fold_case(search);
            $query
                .push(format!(" AND ({position}(lower(customers.id), "))
                .push_bind(folded.clone())
                .push(format!(") > 0 OR {position}(lower(customers.name), "))
                .push_bind(folded);
            if let Some(digits) = $phone_digits {
                $query
                    .push(format!(") > 0 OR {position}(customers.phone, "))
                    .push_bind(digits);
            }
            $query.push(") > 0)");
        }
    }};
}

impl Store {
    pub async fn get_customer(&self, id: &CustomerId) -> StoreResult<Customer> {
        let mut connection = self.database.acquire().await?;
        load_customers(&mut connection, &[id.as_str()])
            .await?
            .remove(id.as_str())
            .ok_or_else(|| StoreError::NotFound {
                entity: "customer",
                id: id.to_string(),
            })
    }

    /// Customers matching the filter, ordered by id, one page at a time, with the total.
    pub async fn list_customers(&self, filter: &CustomerFilter) -> StoreResult<CustomerPage> {
        let limit = filter.limit.clamp(1, 1000);
        let offset = filter.offset.max(0);
        let region = filter
            .region
            .as_deref()
            .map(|region| region.trim_end_matches('/'))
            .filter(|region| !region.is_empty());
        let search = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|search| !search.is_empty());
        // Phones are stored as digits: `138 0013` finds 13800138000.
        let phone_digits: Option<String> = search
            .map(|search| {
                search
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
            })
            .filter(|digits| digits.len() >= 3);
        let phone_digits = phone_digits.as_deref();
        let view_reps = crate::lifecycle::View::rep_list(filter.view.as_ref());
        let mut read = self.database.begin_read().await?;
        let (total, items) = on_backend!(&mut read, |connection, Db| {
            // The count needs no measured values: customers alone, without the join.
            let mut count = sql!(Db; "SELECT COUNT(*) FROM customers");
            push_filter!(
                count,
                Db,
                filter,
                region,
                search,
                phone_digits,
                view_reps.as_deref()
            );
            let total: i64 = count
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?;
            let mut page = sql!(Db; format!("SELECT {} FROM {CUSTOMERS_FROM}", select_list()));
            push_filter!(
                page,
                Db,
                filter,
                region,
                search,
                phone_digits,
                view_reps.as_deref()
            );
            page.push(format!(
                " ORDER BY {} LIMIT ",
                Db::byte_order("customers.id")
            ))
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
            let items = fetch_customers!(page, connection);
            (total, items)
        });
        Ok(CustomerPage {
            total,
            limit,
            offset,
            items,
        })
    }

    /// The number of customers in the pool.
    pub async fn pool_size(&self) -> StoreResult<i64> {
        let mut connection = self.database.acquire().await?;
        on_backend!(&mut connection, |connection, Db| {
            Ok(
                sql!(Db; "SELECT COUNT(*) FROM customers WHERE owner_id IS NULL")
                    .build_query_scalar()
                    .fetch_one(&mut *connection)
                    .await?,
            )
        })
    }

    /// Every customer, ordered by id, handed to `each` a chunk at a time from one snapshot
    /// (an export of a million customers never holds them all).
    /// `each` may fail with its own error (one a store error converts into): the reading stops
    /// there.
    pub async fn for_each_customer<E: From<StoreError>>(
        &self,
        each: impl FnMut(&[Customer]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut read = self.database.begin_read().await?;
        crate::database::Database::for_each_chunk_by_key_in(
            &mut read,
            async |read: &mut ReadTransaction, after: Option<&str>| {
                customer_page(read, after, CustomerRead::Full).await
            },
            |customer| customer.id.as_str(),
            each,
        )
        .await
    }

    /// Every customer, ordered by id.
    pub async fn all_customers(&self) -> StoreResult<Vec<Customer>> {
        let mut all = Vec::new();
        self.for_each_customer(|chunk| {
            all.extend_from_slice(chunk);
            StoreResult::Ok(())
        })
        .await?;
        Ok(all)
    }
}

impl Store {
    /// Every custom attribute key any customer has, sorted by bytes: the `attr.KEY` columns of
    /// an export.
    pub async fn attribute_keys(&self) -> StoreResult<Vec<String>> {
        let mut connection = self.database.acquire().await?;
        let keys: Vec<String> = on_backend!(&mut connection, |connection, Db| {
            let statement = match <Db as Dialect>::BACKEND {
                crate::Backend::Sqlite => {
                    "SELECT DISTINCT json_each.key FROM customers, json_each(customers.attributes)"
                }
                crate::Backend::Postgres => {
                    "SELECT DISTINCT jsonb_object_keys(attributes) FROM customers"
                }
            };
            sql!(Db; statement)
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?
        });
        let mut keys = keys;
        keys.sort();
        Ok(keys)
    }
}
