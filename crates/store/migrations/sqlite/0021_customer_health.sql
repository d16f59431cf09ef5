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
    SELECT customer_id, health, at_risk, health_parts, health_as_of FROM customer_values;
DROP INDEX customer_values_at_risk;
DROP INDEX customer_values_health_unknown;
ALTER TABLE customer_values DROP COLUMN health;
ALTER TABLE customer_values DROP COLUMN at_risk;
ALTER TABLE customer_values DROP COLUMN health_parts;
ALTER TABLE customer_values DROP COLUMN health_as_of;
-- The dashboard's two health counts, each from the customers it counts (as in 0019).
CREATE INDEX customer_health_at_risk ON customer_health(customer_id)
    WHERE at_risk AND health IS NOT NULL;
CREATE INDEX customer_health_unknown ON customer_health(customer_id)
    WHERE health IS NULL;
