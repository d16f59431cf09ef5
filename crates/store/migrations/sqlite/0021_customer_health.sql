-- Health in a narrow table of its own. The daily health refresh changes four columns of every
-- graded customer, and SQLite rewrites a whole row to change one column: the value rows are
-- about 1 KB (the grading's details), so a refresh of 1,000,000 customers wrote about 1 GB of
-- pages to the log and as much again at the checkpoint. A health row is about 100 bytes.
-- Grading writes both tables; every value read joins this one.
CREATE TABLE customer_health (
    customer_id TEXT PRIMARY KEY NOT NULL REFERENCES customers(id),
    health DOUBLE PRECISION,
    at_risk BIGINT NOT NULL,
    health_parts TEXT,
    health_as_of TEXT
) WITHOUT ROWID;
INSERT INTO customer_health (customer_id, health, at_risk, health_parts, health_as_of)
    SELECT customer_id, health, at_risk, health_parts, health_as_of FROM customer_values
    ORDER BY customer_id;
-- The value rows without the health columns, in one copy of the table (four DROP COLUMNs
-- would rewrite it four times: 19 s and about 4 GB of log at 1,000,000 customers).
CREATE TABLE customer_values_without_health (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id),
    as_of TEXT NOT NULL,
    recency_days BIGINT,
    frequency BIGINT,
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
    details TEXT NOT NULL,
    monetary_minor INTEGER
);
INSERT INTO customer_values_without_health (customer_id, as_of, recency_days, frequency,
        recency_score, frequency_score, monetary_score, rfm_segment, p_alive,
        expected_purchases, expected_spend, clv, score, abc, computed_tier, tier, details,
        monetary_minor)
    SELECT customer_id, as_of, recency_days, frequency, recency_score, frequency_score,
        monetary_score, rfm_segment, p_alive, expected_purchases, expected_spend, clv, score,
        abc, computed_tier, tier, details, monetary_minor
    FROM customer_values ORDER BY customer_id;
DROP TABLE customer_values;
ALTER TABLE customer_values_without_health RENAME TO customer_values;
-- As in 0019.
CREATE INDEX customer_values_report
    ON customer_values(tier, abc, rfm_segment, as_of, monetary_minor, clv, score, customer_id);
-- The dashboard's two health counts, each from the customers it counts (as in 0019).
CREATE INDEX customer_health_at_risk ON customer_health(customer_id)
    WHERE at_risk AND health IS NOT NULL;
CREATE INDEX customer_health_unknown ON customer_health(customer_id)
    WHERE health IS NULL;
