-- The schema of Allot 0.1, whose own migration runner recorded versions 1 to 7 in
-- `schema_migrations`. Written so that it creates that schema in an empty database and changes
-- nothing in a database that release wrote; the migrations after it take both forward.

CREATE TABLE IF NOT EXISTS teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id TEXT,
    manager_id TEXT
);
CREATE TABLE IF NOT EXISTS reps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    team_id TEXT,
    role TEXT NOT NULL,
    level TEXT NOT NULL,
    capacity BIGINT,
    weight DOUBLE PRECISION NOT NULL CHECK (weight > 0),
    skills TEXT NOT NULL,
    active BIGINT NOT NULL,
    absent_from TEXT,
    absent_until TEXT,
    owned_count BIGINT NOT NULL DEFAULT 0 CHECK (owned_count >= 0),
    owned_workload DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_assigned_sequence BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    customer_type TEXT NOT NULL,
    industry TEXT NOT NULL,
    region TEXT NOT NULL,
    size BIGINT,
    stage TEXT NOT NULL,
    source TEXT NOT NULL,
    tier TEXT NOT NULL,
    workload DOUBLE PRECISION NOT NULL CHECK (workload > 0),
    first_touch_rep_id TEXT,
    parent_id TEXT,
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    credit_code TEXT NOT NULL,
    owner_id TEXT REFERENCES reps(id),
    created_at TEXT,
    attributes TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_interaction_at TEXT
);
CREATE INDEX IF NOT EXISTS customers_owner ON customers(owner_id);
CREATE INDEX IF NOT EXISTS customers_pool_order ON customers(
    (CASE WHEN created_at IS NULL THEN 1 ELSE 0 END), (COALESCE(created_at, '')), id
) WHERE owner_id IS NULL;
CREATE TABLE IF NOT EXISTS rule_versions (
    version BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS strategy_state (
    rule_name TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'cli',
    revoked_at TEXT
);

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    from_rep_id TEXT,
    to_rep_id TEXT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    rule TEXT
);
CREATE INDEX IF NOT EXISTS events_customer ON events(customer_id, id);
CREATE TRIGGER IF NOT EXISTS events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    owner_id TEXT,
    rule TEXT,
    strategy TEXT,
    reason TEXT NOT NULL,
    trace TEXT NOT NULL,
    rules_version BIGINT,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_customer ON decisions(customer_id, id);

CREATE TABLE IF NOT EXISTS routing_generation (id BIGINT PRIMARY KEY, value BIGINT NOT NULL);
INSERT OR IGNORE INTO routing_generation (id, value) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS reps_bumps_generation_insert AFTER INSERT ON reps BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS reps_bumps_generation_update AFTER UPDATE ON reps BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS reps_bumps_generation_delete AFTER DELETE ON reps BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS teams_bumps_generation_insert AFTER INSERT ON teams BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS teams_bumps_generation_update AFTER UPDATE ON teams BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS teams_bumps_generation_delete AFTER DELETE ON teams BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS strategy_state_bumps_generation_insert AFTER INSERT ON strategy_state BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS strategy_state_bumps_generation_update AFTER UPDATE ON strategy_state BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS strategy_state_bumps_generation_delete AFTER DELETE ON strategy_state BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS rule_versions_bumps_generation_insert AFTER INSERT ON rule_versions BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS rule_versions_bumps_generation_update AFTER UPDATE ON rule_versions BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS rule_versions_bumps_generation_delete AFTER DELETE ON rule_versions BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;

CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    product_line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_customer ON transactions(customer_id, at);
CREATE TABLE IF NOT EXISTS interactions (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    rep_id TEXT NOT NULL REFERENCES reps(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    minutes DOUBLE PRECISION NOT NULL CHECK (minutes >= 0),
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS interactions_customer ON interactions(customer_id, at);
CREATE TABLE IF NOT EXISTS value_policies (
    version BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tier_overrides (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id),
    tier TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customer_values (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id),
    as_of TEXT NOT NULL,
    recency_days BIGINT,
    frequency BIGINT,
    monetary DOUBLE PRECISION,
    recency_score BIGINT,
    frequency_score BIGINT,
    monetary_score BIGINT,
    rfm_segment TEXT,
    p_alive DOUBLE PRECISION,
    expected_purchases DOUBLE PRECISION,
    expected_spend DOUBLE PRECISION,
    clv DOUBLE PRECISION,
    score DOUBLE PRECISION NOT NULL,
    abc TEXT NOT NULL,
    computed_tier TEXT NOT NULL,
    tier TEXT NOT NULL,
    health DOUBLE PRECISION NOT NULL,
    at_risk BIGINT NOT NULL,
    details TEXT NOT NULL,
    health_parts TEXT,
    health_as_of TEXT
);
CREATE INDEX IF NOT EXISTS customer_values_tier ON customer_values(tier);
CREATE TABLE IF NOT EXISTS job_runs (
    job TEXT NOT NULL,
    period TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (job, period)
);
CREATE TABLE IF NOT EXISTS tier_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    from_tier TEXT,
    to_tier TEXT NOT NULL,
    direction TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tier_events_customer ON tier_events(customer_id, id);
CREATE TRIGGER IF NOT EXISTS tier_events_are_append_only_update BEFORE UPDATE ON tier_events
BEGIN SELECT RAISE(ABORT, 'tier events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS tier_events_are_append_only_delete BEFORE DELETE ON tier_events
BEGIN SELECT RAISE(ABORT, 'tier events are append-only'); END;
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    owner_id TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    health DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX IF NOT EXISTS alerts_owner ON alerts(owner_id, id);
CREATE INDEX IF NOT EXISTS alerts_customer ON alerts(customer_id, id);
CREATE TABLE IF NOT EXISTS value_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_customer ON tickets(customer_id, opened_at);

-- The versions of the old runner are now this migration.
DROP TABLE IF EXISTS schema_migrations;
