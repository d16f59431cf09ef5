//! Database schema: ordered migrations, written once per backend where the SQL dialects differ.

/// One schema step. Pending steps are applied in order, all in one transaction (so a failed
/// start leaves the schema as it was), and recorded in `schema_migrations`.
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    /// SQL scripts run in order; several parts let dialect-specific and shared text combine.
    pub sqlite: &'static [&'static str],
    pub postgres: &'static [&'static str],
}

// Portable column types only (TEXT, BIGINT, DOUBLE PRECISION) so that one query text with
// `$N` placeholders runs on both backends through sqlx's Any driver. Booleans are BIGINT 0/1.
const ORGANISATION_TABLES: &str = r#"
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id TEXT,
    manager_id TEXT
);
CREATE TABLE reps (
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
CREATE TABLE customers (
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
    -- One column holds the owner: a customer cannot have two owners by construction,
    -- and the foreign key keeps the owner a real rep.
    owner_id TEXT REFERENCES reps(id),
    created_at TEXT,
    attributes TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX customers_owner ON customers(owner_id);
CREATE TABLE rule_versions (
    version BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE strategy_state (
    rule_name TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"#;

// The routing snapshot is rules, reps with their loads, teams and strategy state. Any write
// to those tables bumps `routing_generation`, so a process that cached an engine can tell,
// with one read, whether another process or command changed the snapshot since. Triggers
// rather than code, so no write path can forget.

macro_rules! sqlite_generation_triggers {
    ($($table:literal),*) => {
        concat!(
            "CREATE TABLE routing_generation (id BIGINT PRIMARY KEY, value BIGINT NOT NULL);\n",
            "INSERT INTO routing_generation (id, value) VALUES (1, 0);\n",
            $(
                "CREATE TRIGGER ", $table, "_bumps_generation_insert AFTER INSERT ON ", $table,
                " BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;\n",
                "CREATE TRIGGER ", $table, "_bumps_generation_update AFTER UPDATE ON ", $table,
                " BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;\n",
                "CREATE TRIGGER ", $table, "_bumps_generation_delete AFTER DELETE ON ", $table,
                " BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; END;\n",
            )*
        )
    };
}

macro_rules! postgres_generation_triggers {
    ($($table:literal),*) => {
        concat!(
            "CREATE TABLE routing_generation (id BIGINT PRIMARY KEY, value BIGINT NOT NULL);\n",
            "INSERT INTO routing_generation (id, value) VALUES (1, 0);\n",
            "CREATE FUNCTION allot_bump_routing_generation() RETURNS trigger LANGUAGE plpgsql AS $$\n",
            "BEGIN UPDATE routing_generation SET value = value + 1 WHERE id = 1; RETURN NULL; END;\n",
            "$$;\n",
            $(
                "CREATE TRIGGER ", $table, "_bumps_generation AFTER INSERT OR UPDATE OR DELETE ON ", $table,
                " FOR EACH STATEMENT EXECUTE FUNCTION allot_bump_routing_generation();\n",
            )*
        )
    };
}

// Customer value (issue 3): activity, policies, computed values, tier history, alerts and
// the record of scheduled jobs. `tier_events` is append-only like `events`.
const VALUE_TABLES: &str = r#"
CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    product_line TEXT NOT NULL
);
CREATE INDEX transactions_customer ON transactions(customer_id, at);
CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    rep_id TEXT NOT NULL REFERENCES reps(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    minutes DOUBLE PRECISION NOT NULL CHECK (minutes >= 0),
    outcome TEXT NOT NULL
);
CREATE INDEX interactions_customer ON interactions(customer_id, at);
ALTER TABLE customers ADD COLUMN last_interaction_at TEXT;
CREATE TABLE value_policies (
    version BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE tier_overrides (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id),
    tier TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE customer_values (
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
    details TEXT NOT NULL
);
CREATE INDEX customer_values_tier ON customer_values(tier);
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    period TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (job, period)
);
"#;

const VALUE_TABLES_SQLITE: &str = r#"
CREATE TABLE tier_events (
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
CREATE INDEX tier_events_customer ON tier_events(customer_id, id);
CREATE TRIGGER tier_events_are_append_only_update BEFORE UPDATE ON tier_events
BEGIN SELECT RAISE(ABORT, 'tier events are append-only'); END;
CREATE TRIGGER tier_events_are_append_only_delete BEFORE DELETE ON tier_events
BEGIN SELECT RAISE(ABORT, 'tier events are append-only'); END;
CREATE TABLE alerts (
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
CREATE INDEX alerts_owner ON alerts(owner_id, id);
CREATE INDEX alerts_customer ON alerts(customer_id, id);
CREATE TABLE value_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    summary TEXT NOT NULL
);
"#;

const VALUE_TABLES_POSTGRES: &str = r#"
CREATE TABLE tier_events (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    from_tier TEXT,
    to_tier TEXT NOT NULL,
    direction TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX tier_events_customer ON tier_events(customer_id, id);
CREATE FUNCTION allot_tier_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'tier events are append-only'; END;
$$;
CREATE TRIGGER tier_events_are_append_only BEFORE UPDATE OR DELETE ON tier_events
FOR EACH ROW EXECUTE FUNCTION allot_tier_events_are_append_only();
CREATE TABLE alerts (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    owner_id TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    health DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX alerts_owner ON alerts(owner_id, id);
CREATE INDEX alerts_customer ON alerts(customer_id, id);
CREATE TABLE value_runs (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    summary TEXT NOT NULL
);
"#;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "organisation, customers, rules, strategy state, tokens",
        sqlite: &[ORGANISATION_TABLES],
        postgres: &[ORGANISATION_TABLES],
    },
    Migration {
        version: 2,
        description: "append-only ownership events and routing decisions",
        sqlite: &[r#"
CREATE TABLE events (
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
CREATE INDEX events_customer ON events(customer_id, id);
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TABLE decisions (
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
CREATE INDEX decisions_customer ON decisions(customer_id, id);
"#],
        postgres: &[r#"
CREATE TABLE events (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    from_rep_id TEXT,
    to_rep_id TEXT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    rule TEXT
);
CREATE INDEX events_customer ON events(customer_id, id);
CREATE FUNCTION allot_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'events are append-only'; END;
$$;
CREATE TRIGGER events_are_append_only BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION allot_events_are_append_only();
CREATE TABLE decisions (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
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
CREATE INDEX decisions_customer ON decisions(customer_id, id);
"#],
    },
    Migration {
        version: 3,
        description: "routing snapshot generation, bumped by triggers, for engine caching",
        sqlite: &[sqlite_generation_triggers!(
            "reps",
            "teams",
            "strategy_state",
            "rule_versions"
        )],
        postgres: &[postgres_generation_triggers!(
            "reps",
            "teams",
            "strategy_state",
            "rule_versions"
        )],
    },
    Migration {
        version: 4,
        description:
            "transactions, interactions, value policies, customer values, tier events, alerts",
        sqlite: &[VALUE_TABLES, VALUE_TABLES_SQLITE],
        postgres: &[VALUE_TABLES, VALUE_TABLES_POSTGRES],
    },
    Migration {
        version: 5,
        description: "API tokens: where each came from, and revocation",
        sqlite: &[TOKEN_REVOCATION],
        postgres: &[TOKEN_REVOCATION],
    },
    Migration {
        version: 6,
        description: "tickets (service requests and complaints); health refreshed daily",
        sqlite: &[TICKETS],
        postgres: &[TICKETS],
    },
    Migration {
        version: 7,
        description:
            "SQLite: an index in the order routing reads the pool, for reading it in chunks",
        sqlite: &[r#"
CREATE INDEX customers_pool_order ON customers(
    (CASE WHEN created_at IS NULL THEN 1 ELSE 0 END), (COALESCE(created_at, '')), id
) WHERE owner_id IS NULL;
"#],
        // PostgreSQL reads the pool in one ordered query; it needs no such index.
        postgres: &[],
    },
];

const TICKETS: &str = r#"
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL
);
CREATE INDEX tickets_customer ON tickets(customer_id, opened_at);
ALTER TABLE customer_values ADD COLUMN health_parts TEXT;
ALTER TABLE customer_values ADD COLUMN health_as_of TEXT;
"#;

/// A token set through `ALLOT_ADMIN_TOKEN` replaces the one set before it; any token can be
/// revoked. Tokens stay in the table (revoked) so the audit trail keeps who held them.
const TOKEN_REVOCATION: &str = r#"
ALTER TABLE api_tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'cli';
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
UPDATE api_tokens SET source = 'env' WHERE name = 'admin (ALLOT_ADMIN_TOKEN)';
UPDATE api_tokens SET source = 'generated' WHERE name = 'admin (generated)';
"#;
