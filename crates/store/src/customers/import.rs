//! Customer imports, and every other write of a customer record: rows of a file (or one API
//! body) checked against the stored customers, the organisation's tiers and stages, its reps
//! and each other, then written a chunk at a time in one transaction.
//!
//! Rows stream through: only a chunk, the rows waiting for a parent named later in the file,
//! and the ids seen so far are held, so a file of a million rows does not sit in memory. A row
//! is written only if everything it names exists afterwards: a row whose parent is a rejected
//! row of the file is rejected too, and parents never form a cycle.

use std::collections::{HashMap, HashSet};

use allot_core::error::FieldErrors;
use allot_core::matching::{customer_match_keys, MatchKey};
use allot_core::update::GivenColumns;
use allot_core::{Clock, Customer, CustomerFields, CustomerId, RepId, Vocabulary};

use super::load_customers;
use super::write::{insert_new_customers, recount_rep_loads, upsert_customers, PendingMatchKeys};
use crate::database::bulk::Transfer;
use crate::database::{on_backend, sql, Connected, Dialect, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::events::{record_ownership_events, NewOwnershipEvent};
use crate::imports::{
    finish_import, problems_of, single_record_outcome, BadRows, DuplicateRow, ImportRow,
    ImportSummary, Progress, RowProblem,
};
use crate::lifecycle::conflicts::{
    find_duplicates_by_keys, open_conflicts, ConflictSource, KeyMatches, NewConflict,
};
use crate::{Store, WriteTransaction};

/// One customer row as text, with its line and the columns it gave; without an `owner_id`
/// column, current owners are kept, and with it an empty cell puts the customer in the pool.
pub type CustomerImportRow = ImportRow<CustomerFields>;

/// Where an ownership change made outside routing came from, for the event's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerChangeSource {
    /// A CSV file (`allot import customers`).
    Import,
    /// A manual assignment or release through the API (`PUT /api/v1/customers/{id}`).
    ManualAssignment,
}

impl OwnerChangeSource {
    fn reason_kind(self) -> &'static str {
        match self {
            OwnerChangeSource::Import => "import",
            OwnerChangeSource::ManualAssignment => "manual",
        }
    }

    fn reason(self, to: Option<&RepId>) -> &'static str {
        match (self, to) {
            (OwnerChangeSource::Import, _) => "owner set by import",
            (OwnerChangeSource::ManualAssignment, Some(_)) => "assigned by hand through the API",
            (OwnerChangeSource::ManualAssignment, None) => {
                "released to the pool by hand through the API"
            }
        }
    }
}

/// Who writes customers, and how.
#[derive(Debug, Clone, Copy)]
pub struct CustomerWrite<'a> {
    pub actor: &'a str,
    pub source: OwnerChangeSource,
    pub clock: Clock,
    /// Refuse a row whose customer exists (`POST /api/v1/customers`).
    pub create_only: bool,
}

/// Rows read, checked and written together.
const CHUNK_ROWS: usize = 5_000;

/// New customers after which the planner's statistics of the table are refreshed in the same
/// transaction: the pool is read in order through its index only if PostgreSQL knows the table
/// is large (before its background analysis, it planned a sort of the whole pool per chunk).
pub(crate) const ANALYZE_AFTER_INSERTING: usize = 10_000;

/// Why a new tier for a graded customer is not taken: its tier follows its value.
pub(crate) fn graded_tier_refused(customer: &Customer, existing: &Customer) -> String {
    let show = |tier: &Option<allot_core::TierName>| {
        tier.as_ref()
            .map_or("none".to_string(), ToString::to_string)
    };
    format!(
        "'{}' is not taken: {} has been graded, so its tier ({}) follows its value; set one by hand with `allot tier override` or PUT /api/v1/customers/{{id}}/tier-override",
        show(&customer.tier),
        customer.id,
        show(&existing.tier)
    )
}

/// What became of a customer id of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected,
    /// Waiting for its parent's row, later in the file.
    Waiting,
}

/// A row that passed its own checks, with what it replaces.
struct Candidate {
    line: usize,
    /// Boxed, as `stored`: a candidate is moved several times on its way.
    customer: Box<Customer>,
    stored: Option<Box<Customer>>,
    /// The match keys of the row as read (those of `customer` when it is new: reading computes
    /// them, on its own thread).
    keys: Vec<MatchKey>,
}

impl Candidate {
    /// Whether the row gives a stored customer another parent: only then can it close a cycle
    /// (a new customer has no children yet, since rows naming it wait for it).
    fn changes_stored_parent(&self) -> bool {
        self.stored
            .as_ref()
            .is_some_and(|stored| stored.parent_id != self.customer.parent_id)
            && self.customer.parent_id.is_some()
    }
}

/// The state of one import while its rows stream through.
struct CustomerImport<'w> {
    options: CustomerWrite<'w>,
    vocabulary: Vocabulary,
    /// Active flag of every rep.
    reps: HashMap<String, bool>,
    outcomes: HashMap<String, (usize, Outcome)>,
    /// Rows waiting for the row of the parent they name, by that parent's id.
    waiting: HashMap<String, Vec<Candidate>>,
    /// Ids of rows whose values did not parse, with their lines.
    unreadable: HashMap<String, usize>,
    /// Accepted rows not written yet, in order.
    ready: Vec<Candidate>,
    /// Rows to place again: their parent's row was rejected, but the parent is stored.
    requeued: Vec<Candidate>,
    affected_reps: HashSet<String>,
    summary: ImportSummary,
    done: u64,
    /// Whether notifications go to the webhook too.
    webhook: bool,
    /// New rows of the file kept as duplicates (撞单), with the customer each duplicates:
    /// rows naming one as their parent are given that customer instead.
    diverted: HashMap<String, CustomerId>,
    /// The match keys of the customers written, when the import began on an empty table (then
    /// they are all the stored ones): written in order when it ends.
    pending_keys: Option<PendingMatchKeys>,
    /// No customer was stored when the import began (under the routing lock, which every
    /// writer of customers takes): ids of the file need not be looked up.
    started_empty: bool,
    /// Where written rows go to be freed: to the thread that read them, while a file is read.
    /// mimalloc frees a block fastest on the thread that allocated it (freeing them here was
    /// a twentieth of this thread's time in a million-row import).
    written_rows: Option<std::sync::mpsc::Sender<Vec<Candidate>>>,
}

impl Store {
    /// Writes customer rows in one transaction, reporting every bad row by line and column.
    /// An existing customer changes only in the columns its row gave; a new one takes the
    /// defaults for the others and, without `created_at`, the clock's time. Every owner change
    /// is an event. With `strict`, any problem writes nothing.
    pub async fn import_customers<I>(
        &self,
        rows: I,
        bad_rows: BadRows,
        options: CustomerWrite<'_>,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary>
    where
        I: IntoIterator<Item = Result<CustomerImportRow, RowProblem>>,
        I::IntoIter: Send + 'static,
    {
        let mut write = self.begin_write().await?;
        write.plan_each_statement_afresh().await?;
        let policy = self.policy_in(&mut write).await?.1;
        let vocabulary = policy.vocabulary();
        let webhook = crate::lifecycle::pool::policy_has_webhook(&policy);
        let reps = rep_activity(&mut write).await?;
        let started_empty = no_customers_stored(&mut write).await?;
        let mut import = CustomerImport {
            options,
            vocabulary,
            reps,
            outcomes: HashMap::new(),
            waiting: HashMap::new(),
            unreadable: HashMap::new(),
            ready: Vec::new(),
            requeued: Vec::new(),
            affected_reps: HashSet::new(),
            summary: ImportSummary::default(),
            done: 0,
            webhook,
            diverted: HashMap::new(),
            pending_keys: started_empty.then(PendingMatchKeys::default),
            started_empty,
            written_rows: None,
        };
        let mut rows = rows.into_iter();
        if rows.size_hint().1.is_some_and(|most| most <= CHUNK_ROWS) {
            // One body or a short list: parsed here, no thread to start.
            let chunk = parse_chunk(&mut rows, &import.vocabulary);
            import.take_chunk(&mut write, chunk, progress).await?;
        } else {
            // A file: a thread reads and parses the next chunk while this one is checked and
            // written (the two took about as long on their own).
            let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<ParsedRow>>(2);
            let (written_sender, written_receiver) = std::sync::mpsc::channel();
            import.written_rows = Some(written_sender);
            let vocabulary = import.vocabulary.clone();
            let parser = tokio::task::spawn_blocking(move || loop {
                written_receiver.try_iter().for_each(drop);
                let chunk = parse_chunk(&mut rows, &vocabulary);
                // An empty chunk is the end; a closed channel, an import that stopped.
                if chunk.is_empty() || sender.blocking_send(chunk).is_err() {
                    return;
                }
            });
            while let Some(chunk) = receiver.recv().await {
                import.take_chunk(&mut write, chunk, progress).await?;
            }
            parser
                .await
                .map_err(|error| StoreError::Corrupt(format!("the file reader failed: {error}")))?;
            import.written_rows = None;
        }
        import.settle_rows_left_waiting(&mut write).await?;
        import.flush(&mut write).await?;
        if let Some(pending) = import.pending_keys.take() {
            pending.write(&mut write).await?;
        }
        let affected: HashSet<&str> = import.affected_reps.iter().map(String::as_str).collect();
        recount_rep_loads(&mut write, &affected).await?;
        if import.summary.inserted >= ANALYZE_AFTER_INSERTING {
            write.refresh_statistics("customers").await?;
            // Without fresh statistics PostgreSQL looked up the next import's match keys by
            // reading the whole key table for every list of them (100,000 rows against a
            // million customers: 180 s).
            write.refresh_statistics("customer_match_keys").await?;
        }
        finish_import(write, import.summary, bad_rows).await
    }

    /// Creates or updates one customer (API): the given fields change, the others stay; an
    /// owner change is a manual assignment and is recorded as an event. Returns whether the
    /// customer was created. With `create_only`, an existing customer is a conflict.
    pub async fn put_customer(
        &self,
        fields: CustomerFields,
        given: &GivenColumns,
        actor: &str,
        clock: Clock,
        create_only: bool,
    ) -> StoreResult<bool> {
        let summary = self
            .import_customers(
                [Ok(ImportRow {
                    line: 1,
                    record: fields,
                    given: given.clone(),
                })],
                BadRows::new(true),
                CustomerWrite {
                    actor,
                    source: OwnerChangeSource::ManualAssignment,
                    clock,
                    create_only,
                },
                &|_| {},
            )
            .await?;
        single_record_outcome(summary)
    }
}

/// A row of the file read and parsed on its own, before it is checked against the database;
/// or why it could not be read (its width, its encoding).
type ParsedRow = Result<ParsedCustomer, RowProblem>;

struct ParsedCustomer {
    line: usize,
    /// The row's values, or every value that is wrong with the row's id, when that id is one.
    customer: Result<Box<Customer>, (FieldErrors, Option<CustomerId>)>,
    given: GivenColumns,
    /// The match keys of the row's values (none when they did not parse).
    keys: Vec<MatchKey>,
}

/// The next chunk of rows, read and parsed; empty at the end.
fn parse_chunk(
    rows: &mut impl Iterator<Item = Result<CustomerImportRow, RowProblem>>,
    vocabulary: &Vocabulary,
) -> Vec<ParsedRow> {
    rows.take(CHUNK_ROWS)
        .map(|row| {
            row.map(|row| {
                let id = CustomerId::parse(row.record.id()).ok();
                let customer = row
                    .record
                    .into_customer(vocabulary)
                    .map(Box::new)
                    .map_err(|errors| (errors, id));
                let keys = customer
                    .as_deref()
                    .map(customer_match_keys)
                    .unwrap_or_default();
                ParsedCustomer {
                    line: row.line,
                    customer,
                    given: row.given,
                    keys,
                }
            })
        })
        .collect()
}

/// Whether the customers table is empty.
async fn no_customers_stored(source: &mut impl Connected) -> StoreResult<bool> {
    let any: Option<i64> = on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT CAST(1 AS BIGINT) FROM customers LIMIT 1")
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
    });
    Ok(any.is_none())
}

/// Every rep's id with whether it is active.
async fn rep_activity(source: &mut impl Connected) -> StoreResult<HashMap<String, bool>> {
    let rows: Vec<(String, bool)> = on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT id, active FROM reps")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
    });
    Ok(rows.into_iter().collect())
}

/// The stored customers among `ids` that have been graded.
async fn graded_among(source: &mut impl Connected, ids: &[&str]) -> StoreResult<HashSet<String>> {
    let mut graded = HashSet::new();
    for chunk in ids.chunks(LIST_CHUNK) {
        let found: Vec<String> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "SELECT customer_id FROM customer_values WHERE ");
            query.push_in_list("customer_id", chunk);
            query
                .build_query_scalar()
                .fetch_all(&mut *connection)
                .await?
        });
        graded.extend(found);
    }
    Ok(graded)
}

/// Whether making `parent` the parent of `customer` would close a cycle of parent accounts:
/// follows the stored parents up from `parent` (a few steps; bounded in case).
pub(crate) async fn parent_link_closes_cycle(
    source: &mut impl Connected,
    customer: &CustomerId,
    parent: &CustomerId,
) -> StoreResult<bool> {
    let found: Option<i64> = on_backend!(source, |connection, Db| {
        // Both terms of the chain carry the id column's collation (byte order on PostgreSQL).
        let start = Db::byte_order("CAST($parent AS TEXT)");
        let (before, after) = start
            .split_once("$parent")
            .expect("the placeholder is there");
        sql!(Db; "WITH RECURSIVE chain(id, depth) AS (
                SELECT ", before, bind(parent.as_str()), after, ", 0
                UNION ALL
                SELECT customers.parent_id, chain.depth + 1 FROM customers JOIN chain ON customers.id = chain.id
                 WHERE customers.parent_id IS NOT NULL AND chain.depth < 10000
             )
             SELECT CAST(1 AS BIGINT) FROM chain WHERE id = ", bind(customer.as_str()), " LIMIT 1")
        .build_query_scalar()
        .fetch_optional(&mut *connection)
        .await?
    });
    Ok(found.is_some())
}

impl CustomerImport<'_> {
    async fn take_chunk(
        &mut self,
        write: &mut WriteTransaction,
        chunk: Vec<ParsedRow>,
        progress: Progress<'_>,
    ) -> StoreResult<()> {
        // Every row on its own first: its values, then its id once per file.
        let mut parsed = Vec::with_capacity(chunk.len());
        for row in chunk {
            let ParsedCustomer {
                line,
                customer,
                given,
                keys,
            } = match row {
                Ok(parsed) => parsed,
                Err(problem) => {
                    self.summary.problems.push(problem);
                    continue;
                }
            };
            self.done += 1;
            let incoming = match customer {
                Ok(customer) => customer,
                Err((errors, id)) => {
                    self.summary.problems.extend(problems_of(line, errors));
                    // Rows naming it as their parent are told which line failed, should it
                    // not be stored either.
                    if let Some(id) = id {
                        self.unreadable.entry(id.to_string()).or_insert(line);
                    }
                    continue;
                }
            };
            let id = incoming.id.to_string();
            if let Some((first, _)) = self.outcomes.get(&id) {
                self.summary.problems.push(RowProblem::conflict(
                    line,
                    "id",
                    format!("'{id}' already appears on line {first}; give each id once per file"),
                ));
                continue;
            }
            self.outcomes.insert(id, (line, Outcome::Waiting));
            parsed.push((line, incoming, given, keys));
        }
        let ids: Vec<&str> = parsed
            .iter()
            .map(|(_, customer, ..)| customer.id.as_str())
            .collect();
        let mut stored = if self.started_empty {
            HashMap::new()
        } else {
            load_customers(write, &ids).await?
        };
        let tier_changes: Vec<&str> = parsed
            .iter()
            .filter(|(_, incoming, given, _)| {
                given.contains("tier")
                    && stored
                        .get(incoming.id.as_str())
                        .is_some_and(|existing| existing.tier != incoming.tier)
            })
            .map(|(_, customer, ..)| customer.id.as_str())
            .collect();
        let graded = graded_among(write, &tier_changes).await?;
        drop(ids);
        for (line, incoming, given, keys) in parsed {
            let existing = stored.remove(incoming.id.as_str());
            if let Some(candidate) =
                self.check_row(line, (incoming, keys), &given, existing, &graded)
            {
                self.place(write, candidate).await?;
            }
        }
        self.flush(write).await?;
        progress(self.done);
        Ok(())
    }

    /// The row merged over the stored customer and checked against the organisation, or its
    /// problems recorded.
    fn check_row(
        &mut self,
        line: usize,
        (incoming, keys): (Box<Customer>, Vec<MatchKey>),
        given: &GivenColumns,
        existing: Option<Customer>,
        graded: &HashSet<String>,
    ) -> Option<Candidate> {
        let id = incoming.id.to_string();
        let reject = |import: &mut Self| {
            import
                .outcomes
                .insert(id.clone(), (line, Outcome::Rejected));
            None
        };
        if let (Some(_), true) = (&existing, self.options.create_only) {
            self.summary.problems.push(RowProblem::conflict(
                line,
                "id",
                format!("customer '{id}' exists; use PUT /api/v1/customers/{{id}} to update it"),
            ));
            return reject(self);
        }
        let customer = match &existing {
            Some(existing) => match existing.updated_with(&incoming, given) {
                Ok(customer) => Box::new(customer),
                Err(errors) => {
                    self.summary.problems.extend(problems_of(line, errors));
                    return reject(self);
                }
            },
            None => {
                let mut customer = incoming;
                // A new customer was created now, unless the row says when.
                if customer.created_at.is_none() {
                    customer.created_at = Some(self.options.clock.now());
                }
                customer
            }
        };
        // Every bad reference of the row is reported, not only the first.
        let mut bad = false;
        let owner_changes =
            existing.as_ref().map(|existing| &existing.owner_id) != Some(&customer.owner_id);
        if let Some(owner) = customer.owner_id.as_ref().filter(|_| owner_changes) {
            let message = match self.reps.get(owner.as_str()) {
                None => Some(format!("rep '{owner}' does not exist")),
                Some(false) => Some(format!(
                    "rep '{owner}' is inactive and cannot own customers"
                )),
                Some(true) => None,
            };
            if let Some(message) = message {
                self.summary
                    .problems
                    .push(RowProblem::invalid(line, "owner_id", message));
                bad = true;
            }
        }
        if let Some(rep) = &customer.first_touch_rep_id {
            if !self.reps.contains_key(rep.as_str()) {
                self.summary.problems.push(RowProblem::conflict(
                    line,
                    "first_touch_rep_id",
                    format!("rep '{rep}' does not exist"),
                ));
                bad = true;
            }
        }
        if bad {
            return reject(self);
        }
        if let Some(existing) = &existing {
            if given.contains("tier") && customer.tier != existing.tier && graded.contains(&id) {
                let graded_tier =
                    RowProblem::conflict(line, "tier", graded_tier_refused(&customer, existing));
                // A file goes on with a warning; one API update that asks for a tier it
                // cannot have is refused, so the caller does not believe it was set.
                if self.options.source == OwnerChangeSource::ManualAssignment {
                    self.summary.problems.push(graded_tier);
                    return reject(self);
                }
                self.summary.warnings.push(graded_tier);
            }
        }
        Some(Candidate {
            line,
            customer,
            stored: existing.map(Box::new),
            keys,
        })
    }

    /// Accepts a checked row whose parent is settled, makes it wait for its parent's row, or
    /// rejects it; an accepted row lets the rows waiting for it through in turn.
    async fn place(
        &mut self,
        write: &mut WriteTransaction,
        candidate: Candidate,
    ) -> StoreResult<()> {
        let mut queue = vec![candidate];
        while let Some(candidate) = queue.pop().or_else(|| self.requeued.pop()) {
            let Some(parent) = candidate.customer.parent_id.clone() else {
                self.accept(candidate, &mut queue);
                continue;
            };
            match self.outcomes.get(parent.as_str()).copied() {
                Some((parent_line, Outcome::Rejected)) => {
                    self.reject_with_children(
                        candidate,
                        RowProblem::conflict(
                            0,
                            "parent_id",
                            format!(
                                "customer '{parent}' is not imported: its own row (line {parent_line}) was rejected"
                            ),
                        ),
                    );
                }
                Some((_, Outcome::Waiting)) => self.wait_for(parent, candidate),
                Some((_, Outcome::Accepted)) => {
                    self.accept_unless_cycle(write, candidate, &parent, &mut queue)
                        .await?
                }
                None => {
                    if !self.started_empty && self.parent_is_stored(write, &parent).await? {
                        self.accept_unless_cycle(write, candidate, &parent, &mut queue)
                            .await?;
                    } else {
                        // It may come later in the file.
                        self.wait_for(parent, candidate);
                    }
                }
            }
        }
        Ok(())
    }

    async fn parent_is_stored(
        &mut self,
        write: &mut WriteTransaction,
        parent: &CustomerId,
    ) -> StoreResult<bool> {
        let found: Option<i64> = on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "SELECT CAST(1 AS BIGINT) FROM customers WHERE id = ", bind(parent.as_str()))
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
        });
        Ok(found.is_some())
    }

    async fn accept_unless_cycle(
        &mut self,
        write: &mut WriteTransaction,
        candidate: Candidate,
        parent: &CustomerId,
        queue: &mut Vec<Candidate>,
    ) -> StoreResult<()> {
        if candidate.changes_stored_parent() {
            // The check reads the stored links, so the rows accepted so far go first.
            self.flush(write).await?;
            if parent_link_closes_cycle(write, &candidate.customer.id, parent).await? {
                let message = format!(
                    "making '{parent}' the parent of '{}' forms a cycle",
                    candidate.customer.id
                );
                // The customer is stored: rows naming it still have a parent.
                let line = candidate.line;
                self.summary
                    .problems
                    .push(RowProblem::conflict(line, "parent_id", message));
                self.outcomes
                    .insert(candidate.customer.id.to_string(), (line, Outcome::Rejected));
                self.release_to_stored(&candidate.customer.id, queue);
                return Ok(());
            }
        }
        self.accept(candidate, queue);
        Ok(())
    }

    /// A rejected row of a customer that is stored: the rows waiting for it can still name it.
    fn release_to_stored(&mut self, id: &CustomerId, queue: &mut Vec<Candidate>) {
        if let Some(children) = self.waiting.remove(id.as_str()) {
            queue.extend(children);
        }
        // They are placed again: the stored customer counts as their parent.
        self.outcomes.remove(id.as_str());
    }

    fn accept(&mut self, candidate: Candidate, queue: &mut Vec<Candidate>) {
        let id = candidate.customer.id.to_string();
        let previous_owner = candidate
            .stored
            .as_ref()
            .and_then(|stored| stored.owner_id.as_ref());
        let load_changed = previous_owner != candidate.customer.owner_id.as_ref()
            || candidate
                .stored
                .as_ref()
                .is_none_or(|stored| stored.workload != candidate.customer.workload);
        if load_changed {
            self.affected_reps
                .extend(previous_owner.map(ToString::to_string));
            self.affected_reps.extend(
                candidate
                    .customer
                    .owner_id
                    .as_ref()
                    .map(ToString::to_string),
            );
        }
        if previous_owner != candidate.customer.owner_id.as_ref() {
            self.summary.ownership_changes += 1;
        }
        if candidate.stored.is_some() {
            self.summary.updated += 1;
        } else {
            self.summary.inserted += 1;
        }
        self.outcomes
            .insert(id.clone(), (candidate.line, Outcome::Accepted));
        if let Some(children) = self.waiting.remove(&id) {
            queue.extend(children);
        }
        self.ready.push(candidate);
    }

    fn wait_for(&mut self, parent: CustomerId, candidate: Candidate) {
        self.waiting
            .entry(parent.to_string())
            .or_default()
            .push(candidate);
    }

    /// Rejects a row and, since its customer will not exist, the rows waiting for it.
    fn reject_with_children(&mut self, candidate: Candidate, problem: RowProblem) {
        let mut rejected = vec![(candidate, problem)];
        while let Some((candidate, mut problem)) = rejected.pop() {
            problem.line = candidate.line;
            let id = candidate.customer.id.to_string();
            self.summary.problems.push(problem);
            if candidate.stored.is_some() {
                // A stored customer stays: rows naming it keep their parent, and are placed
                // again as if this row had not been in the file.
                self.outcomes.remove(&id);
                self.requeued
                    .extend(self.waiting.remove(&id).unwrap_or_default());
                continue;
            }
            self.outcomes
                .insert(id.clone(), (candidate.line, Outcome::Rejected));
            for child in self.waiting.remove(&id).unwrap_or_default() {
                let message = format!(
                    "customer '{id}' is not imported: its own row (line {}) was rejected",
                    candidate.line
                );
                rejected.push((child, RowProblem::conflict(0, "parent_id", message)));
            }
        }
    }

    /// At the end of the file: a row still waiting names a parent that never came, or one
    /// that waits itself, around a cycle of rows naming each other.
    async fn settle_rows_left_waiting(&mut self, write: &mut WriteTransaction) -> StoreResult<()> {
        loop {
            while let Some(candidate) = self.requeued.pop() {
                self.place(write, candidate).await?;
            }
            if self.waiting.is_empty() {
                return Ok(());
            }
            if !self.reject_missing_parents() && !self.reject_cycles() {
                break;
            }
        }
        // Nothing is left that waits for a row still to be decided.
        for (parent, children) in std::mem::take(&mut self.waiting) {
            for child in children {
                self.reject_with_children(
                    child,
                    RowProblem::conflict(
                        0,
                        "parent_id",
                        format!("customer '{parent}' is not imported"),
                    ),
                );
            }
        }
        Ok(())
    }

    /// Rejects the rows naming a parent that is neither stored (it was looked up) nor a row of
    /// the file; says whether there were any.
    fn reject_missing_parents(&mut self) -> bool {
        let missing: Vec<String> = self
            .waiting
            .keys()
            .filter(|parent| !self.outcomes.contains_key(parent.as_str()))
            .cloned()
            .collect();
        for parent in &missing {
            let message = match self.unreadable.get(parent) {
                Some(line) => format!(
                    "customer '{parent}' is not imported: its own row (line {line}) was rejected"
                ),
                None => format!("customer '{parent}' does not exist"),
            };
            for child in self.waiting.remove(parent).unwrap_or_default() {
                self.reject_with_children(
                    child,
                    RowProblem::conflict(0, "parent_id", message.clone()),
                );
            }
        }
        !missing.is_empty()
    }

    /// Rejects the rows of cycles of waiting rows (each names the next as its parent); the
    /// rows leading into a cycle fall with it. Says whether there were any.
    fn reject_cycles(&mut self) -> bool {
        let waiting_on: HashMap<String, String> = self
            .waiting
            .iter()
            .flat_map(|(parent, children)| {
                children
                    .iter()
                    .map(move |child| (child.customer.id.to_string(), parent.clone()))
            })
            .collect();
        let in_cycle = |start: &str| {
            let mut seen = HashSet::new();
            let mut current = waiting_on.get(start);
            while let Some(id) = current {
                if id == start {
                    return true;
                }
                if !seen.insert(id.clone()) {
                    return false;
                }
                current = waiting_on.get(id);
            }
            false
        };
        let mut cycle_rows = Vec::new();
        for (parent, children) in std::mem::take(&mut self.waiting) {
            let (in_a_cycle, others): (Vec<Candidate>, Vec<Candidate>) = children
                .into_iter()
                .partition(|child| in_cycle(child.customer.id.as_str()));
            cycle_rows.extend(in_a_cycle.into_iter().map(|child| (parent.clone(), child)));
            if !others.is_empty() {
                self.waiting.insert(parent, others);
            }
        }
        let found = !cycle_rows.is_empty();
        for (parent, child) in cycle_rows {
            let message = format!(
                "making '{parent}' the parent of '{}' forms a cycle",
                child.customer.id
            );
            self.reject_with_children(child, RowProblem::conflict(0, "parent_id", message));
        }
        found
    }

    /// Writes the accepted rows and their ownership events. A new row whose keys match a stored
    /// customer (or an earlier new row) is not created: it is kept as a duplicate in a conflict.
    async fn flush(&mut self, write: &mut WriteTransaction) -> StoreResult<()> {
        if self.ready.is_empty() {
            return Ok(());
        }
        let mut ready = std::mem::take(&mut self.ready);
        let new_keys: Vec<Vec<MatchKey>> = ready
            .iter_mut()
            .filter(|row| row.stored.is_none())
            .map(|row| std::mem::take(&mut row.keys))
            .collect();
        let new_records: Vec<&Customer> = ready
            .iter()
            .filter(|row| row.stored.is_none())
            .map(|row| &*row.customer)
            .collect();
        let (matches, prints) =
            find_duplicates_by_keys(write, &new_records, &new_keys, self.pending_keys.as_ref())
                .await?;
        drop(new_keys);
        // The key fingerprints of the new rows that are not duplicates, in the order they are
        // inserted below.
        let new_prints: Vec<Vec<i64>> = prints
            .into_iter()
            .zip(&matches)
            .filter(|(_, matches)| matches.is_empty())
            .map(|(prints, _)| prints)
            .collect();
        let mut matches_of: HashMap<String, KeyMatches> = matches
            .into_iter()
            .zip(&new_records)
            .filter(|(matches, _)| !matches.is_empty())
            .map(|(matches, record)| (record.id.to_string(), matches))
            .collect();
        drop(new_records);
        let (duplicates, mut ready): (Vec<Candidate>, Vec<Candidate>) = if matches_of.is_empty() {
            // The usual case, without moving every row.
            (Vec::new(), ready)
        } else {
            ready.into_iter().partition(|row| {
                row.stored.is_none() && matches_of.contains_key(row.customer.id.as_str())
            })
        };
        for duplicate in &duplicates {
            if let Some((_, existing)) = matches_of
                .get(duplicate.customer.id.as_str())
                .and_then(|matches| matches.first())
            {
                self.diverted
                    .insert(duplicate.customer.id.to_string(), existing.clone());
            }
            self.summary.inserted -= 1;
            if duplicate.customer.owner_id.is_some() {
                self.summary.ownership_changes -= 1;
            }
        }
        for row in &mut ready {
            let parent = row.customer.parent_id.as_ref();
            if let Some(existing) = parent.and_then(|parent| self.diverted.get(parent.as_str())) {
                row.customer.parent_id = Some(existing.clone());
            }
        }
        let now = self.options.clock.now();
        let transfer = Transfer::for_rows(ready.len());
        // New customers first: a stored one may be given one of them as its parent.
        let (stored, new): (Vec<&Candidate>, Vec<&Candidate>) =
            ready.iter().partition(|row| row.stored.is_some());
        let new: Vec<&Customer> = new.into_iter().map(|row| &*row.customer).collect();
        insert_new_customers(
            write,
            &new,
            &new_prints,
            now,
            Transfer::for_rows(new.len()),
            self.pending_keys.as_mut(),
        )
        .await?;
        let previous: Vec<&Customer> = stored
            .iter()
            .filter_map(|row| row.stored.as_deref())
            .collect();
        let stored: Vec<&Customer> = stored.into_iter().map(|row| &*row.customer).collect();
        upsert_customers(
            write,
            &stored,
            &previous,
            now,
            Transfer::for_rows(stored.len()),
        )
        .await?;
        let events: Vec<NewOwnershipEvent<'_>> = ready
            .iter()
            .map(|row| NewOwnershipEvent {
                at: now,
                customer_id: &row.customer.id,
                from: row
                    .stored
                    .as_ref()
                    .and_then(|stored| stored.owner_id.as_ref()),
                to: row.customer.owner_id.as_ref(),
                actor: self.options.actor,
                reason: self.options.source.reason(row.customer.owner_id.as_ref()),
                reason_kind: self.options.source.reason_kind(),
                rule: None,
            })
            .collect();
        record_ownership_events(write, &events, transfer).await?;
        drop(events);
        if let Some(reader) = &self.written_rows {
            // Once the reader has finished the rows come back and are freed here.
            let _ = reader.send(ready);
        }
        if duplicates.is_empty() {
            return Ok(());
        }
        let source = match self.options.source {
            OwnerChangeSource::Import => ConflictSource::Import,
            OwnerChangeSource::ManualAssignment => ConflictSource::Api,
        };
        let conflicts: Vec<NewConflict<'_>> = duplicates
            .iter()
            .map(|row| NewConflict {
                duplicate: &row.customer,
                matches: matches_of
                    .remove(row.customer.id.as_str())
                    .unwrap_or_default(),
                source,
                actor: self.options.actor,
            })
            .collect();
        let opened = open_conflicts(write, &conflicts, now, self.webhook).await?;
        for (row, opened) in duplicates.iter().zip(opened) {
            let mut fields: Vec<String> =
                opened.matched.iter().map(|key| key.field.clone()).collect();
            fields.dedup();
            self.summary.duplicates.push(DuplicateRow {
                line: row.line,
                id: opened.duplicate_id,
                conflict_id: opened.conflict_id,
                fields,
            });
        }
        Ok(())
    }
}

impl From<StoreError> for RowProblem {
    fn from(error: StoreError) -> RowProblem {
        RowProblem::conflict(0, "-", error.to_string())
    }
}
