-- 撞单 (issue 10): the keys customers are matched on, and the conflicts a match opens.

-- One row per key of a customer (its name in match form, phone, email, credit code), as the
-- key's 64-bit fingerprint: a new customer is matched by looking its fingerprints up here, never
-- by scanning the customers, and a hit is confirmed on the keys themselves. Integers keep the
-- index a fraction of the size of one over the key texts (which made a first import of a
-- million customers five times slower). No index on the customer: a customer's rows are
-- replaced by their whole keys, computed from its stored version. No foreign key: the rows are
-- written with their customer by the one function that writes customers.
CREATE TABLE customer_match_keys (
    fingerprint BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (fingerprint, customer_id)
) WITHOUT ROWID;
-- Which version of the key normalisation the rows were made with; keys are rebuilt when the
-- store opens a database whose rows are older (or were never made, as after this migration).
CREATE TABLE match_key_version (id BIGINT PRIMARY KEY, version BIGINT NOT NULL);

CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- open, disputed, kept, moved.
    state TEXT NOT NULL,
    -- The existing customer the new record duplicates.
    customer_id TEXT NOT NULL REFERENCES customers(id),
    -- The new record, stored here as a duplicate instead of as a customer.
    duplicate_id TEXT NOT NULL,
    duplicate TEXT NOT NULL,
    -- JSON array of {field, key, customer_id}: which key matched which customer.
    matched TEXT NOT NULL,
    -- The existing customer's owner when the conflict opened (NULL: in the pool).
    owner_id TEXT REFERENCES reps(id),
    -- api, import or route.
    source TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    -- The rep who brought the duplicate: the acting rep, else the record's first-touch rep.
    brought_by_rep_id TEXT REFERENCES reps(id),
    opened_at TEXT NOT NULL,
    evidence TEXT,
    -- JSON array of interaction ids given as evidence.
    evidence_interaction_ids TEXT,
    disputed_at TEXT,
    decided_by TEXT,
    decided_at TEXT,
    decision_comment TEXT,
    -- The transfer a `move` decision started.
    transfer_id BIGINT REFERENCES transfers(id),
    merged_by TEXT,
    merged_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX conflicts_customer ON conflicts(customer_id, id);
CREATE INDEX conflicts_state ON conflicts(state, id);
-- A record brought again while its conflict is open joins that conflict.
CREATE UNIQUE INDEX conflicts_one_open_per_duplicate ON conflicts(duplicate_id) WHERE state IN ('open', 'disputed');

-- Each step of a conflict (opened, disputed, kept, moved, merged), with its actor: the
-- conflict's own append-only log, as tier changes have theirs.
CREATE TABLE conflict_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conflict_id BIGINT NOT NULL REFERENCES conflicts(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX conflict_events_conflict ON conflict_events(conflict_id, id);
CREATE TRIGGER conflict_events_are_append_only_update BEFORE UPDATE ON conflict_events
BEGIN SELECT RAISE(ABORT, 'conflict events are append-only'); END;
CREATE TRIGGER conflict_events_are_append_only_delete BEFORE DELETE ON conflict_events
BEGIN SELECT RAISE(ABORT, 'conflict events are append-only'); END;
