-- The ownership lifecycle (issue 10): tokens that act as a rep, why each ownership change was
-- made, transfers with their approvals and hand-over, and notifications with a webhook outbox.

-- A token with a rep acts as that rep with the rep's role; without one it is an admin token.
ALTER TABLE api_tokens ADD COLUMN rep_id TEXT REFERENCES reps(id);

-- What kind of change an event is (routing, import, manual, claim, release, reclaim, or a
-- transfer's reason kind); NULL for events written before it was recorded.
ALTER TABLE events ADD COLUMN reason_kind TEXT;
-- Today's claims of a rep are counted through this (only claims are in it).
CREATE INDEX events_claims ON events(to_rep_id, at) WHERE reason_kind = 'claim';

CREATE TABLE transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    from_rep_id TEXT NOT NULL REFERENCES reps(id),
    -- NULL: the customers are routed by the rules on acceptance.
    to_rep_id TEXT REFERENCES reps(id),
    reason_kind TEXT NOT NULL,
    text TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    -- JSON array: the rep that approves each level, or null where an admin must.
    approvers TEXT NOT NULL,
    approvals_given BIGINT NOT NULL DEFAULT 0,
    -- JSON hand-over checklist, made on approval.
    handover TEXT,
    updated_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX transfers_from ON transfers(from_rep_id, id);
CREATE INDEX transfers_to ON transfers(to_rep_id, id);
CREATE TABLE transfer_customers (
    transfer_id BIGINT NOT NULL REFERENCES transfers(id),
    customer_id TEXT NOT NULL REFERENCES customers(id),
    is_open INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, customer_id)
);
-- A customer has at most one open transfer.
CREATE UNIQUE INDEX transfer_customers_one_open ON transfer_customers(customer_id) WHERE is_open = 1;
CREATE INDEX transfer_customers_customer ON transfer_customers(customer_id, transfer_id);
CREATE TABLE transfer_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transfer_id BIGINT NOT NULL REFERENCES transfers(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    comment TEXT NOT NULL
);
CREATE INDEX transfer_steps_transfer ON transfer_steps(transfer_id, id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: for every admin.
    recipient_rep_id TEXT,
    kind TEXT NOT NULL,
    customer_id TEXT,
    transfer_id BIGINT,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT,
    -- A notification sent once per occasion (a reclaim warning per owner and clock start).
    dedup_key TEXT UNIQUE
);
CREATE INDEX notifications_recipient ON notifications(recipient_rep_id, id);
CREATE TABLE notification_outbox (
    notification_id BIGINT PRIMARY KEY REFERENCES notifications(id),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at TEXT,
    last_error TEXT
);
CREATE INDEX notification_outbox_due ON notification_outbox(next_attempt_at) WHERE delivered_at IS NULL;
CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL,
    at TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status BIGINT,
    error TEXT
);
