-- Health in a narrow table of its own. The daily health refresh changes four columns of every
-- graded customer, and an update writes a new version of the whole row: the value rows are
-- about 1 KB (the grading's details), a health row about 100 bytes. Grading writes both
-- tables; every value read joins this one.
CREATE TABLE customer_health (
    customer_id TEXT COLLATE "C" PRIMARY KEY REFERENCES customers(id),
    health DOUBLE PRECISION,
    at_risk BOOLEAN NOT NULL,
    health_parts JSONB,
    health_as_of TIMESTAMPTZ
);
INSERT INTO customer_health (customer_id, health, at_risk, health_parts, health_as_of)
    SELECT customer_id, health, at_risk, health_parts, health_as_of FROM customer_values;
DROP INDEX customer_values_at_risk;
DROP INDEX customer_values_health_unknown;
ALTER TABLE customer_values
    DROP COLUMN health,
    DROP COLUMN at_risk,
    DROP COLUMN health_parts,
    DROP COLUMN health_as_of;
-- The dashboard's two health counts, each from the customers it counts (as in 0019).
CREATE INDEX customer_health_at_risk ON customer_health(customer_id)
    WHERE at_risk AND health IS NOT NULL;
CREATE INDEX customer_health_unknown ON customer_health(customer_id)
    WHERE health IS NULL;
