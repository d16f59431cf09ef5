-- Typed values (issue 9): an unknown stage, tier, phone, email or credit code is NULL instead of
-- empty text; money is exact, in whole minor units (分); a health nobody can measure is NULL.
-- SQLite has no timestamp, boolean or JSON types: instants stay fixed-width UTC text (text
-- order is time order), booleans 0/1 and JSON text, as before.

ALTER TABLE customers RENAME COLUMN stage TO stage_before;
ALTER TABLE customers ADD COLUMN stage TEXT;
UPDATE customers SET stage = NULLIF(stage_before, '');
ALTER TABLE customers DROP COLUMN stage_before;

ALTER TABLE customers RENAME COLUMN tier TO tier_before;
ALTER TABLE customers ADD COLUMN tier TEXT;
UPDATE customers SET tier = NULLIF(tier_before, '');
ALTER TABLE customers DROP COLUMN tier_before;

ALTER TABLE customers RENAME COLUMN phone TO phone_before;
ALTER TABLE customers ADD COLUMN phone TEXT;
UPDATE customers SET phone = NULLIF(phone_before, '');
ALTER TABLE customers DROP COLUMN phone_before;

ALTER TABLE customers RENAME COLUMN email TO email_before;
ALTER TABLE customers ADD COLUMN email TEXT;
UPDATE customers SET email = NULLIF(email_before, '');
ALTER TABLE customers DROP COLUMN email_before;

ALTER TABLE customers RENAME COLUMN credit_code TO credit_code_before;
ALTER TABLE customers ADD COLUMN credit_code TEXT;
UPDATE customers SET credit_code = NULLIF(credit_code_before, '');
ALTER TABLE customers DROP COLUMN credit_code_before;

-- Amounts were doubles with at most cents that matter: rounded to the cent.
ALTER TABLE transactions ADD COLUMN amount_minor INTEGER NOT NULL DEFAULT 0;
UPDATE transactions SET amount_minor = CAST(ROUND(amount * 100) AS INTEGER);
ALTER TABLE transactions DROP COLUMN amount;

ALTER TABLE customer_values ADD COLUMN monetary_minor INTEGER;
UPDATE customer_values SET monetary_minor = CAST(ROUND(monetary * 100) AS INTEGER)
    WHERE monetary IS NOT NULL;
ALTER TABLE customer_values DROP COLUMN monetary;

ALTER TABLE customer_values RENAME COLUMN health TO health_before;
ALTER TABLE customer_values ADD COLUMN health DOUBLE PRECISION;
UPDATE customer_values SET health = health_before;
ALTER TABLE customer_values DROP COLUMN health_before;

-- Customer lists search ids and phones as well as names, and filter by tier. Routing reads the
-- pool oldest first, customers without a creation time after the others, in chunks.
CREATE INDEX customers_tier ON customers(tier);
CREATE INDEX customers_phone ON customers(phone);
DROP INDEX customers_pool_order;
CREATE INDEX customers_pool_order ON customers(created_at, id) WHERE owner_id IS NULL;
