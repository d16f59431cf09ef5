-- Native column types (issue 9), where Allot 0.1 kept portable text and numbers: instants are
-- timestamptz, dates date, flags boolean, documents jsonb; money is exact, in whole minor units
-- (分); an unknown stage, tier, phone, email or credit code is NULL instead of empty text; a
-- health nobody can measure is NULL.

ALTER TABLE reps
    ALTER COLUMN active TYPE boolean USING active <> 0,
    ALTER COLUMN absent_from TYPE date USING absent_from::date,
    ALTER COLUMN absent_until TYPE date USING absent_until::date;

ALTER TABLE customers
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz,
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz,
    ALTER COLUMN last_interaction_at TYPE timestamptz USING last_interaction_at::timestamptz,
    ALTER COLUMN attributes TYPE jsonb USING attributes::jsonb,
    ALTER COLUMN stage DROP NOT NULL,
    ALTER COLUMN tier DROP NOT NULL,
    ALTER COLUMN phone DROP NOT NULL,
    ALTER COLUMN email DROP NOT NULL,
    ALTER COLUMN credit_code DROP NOT NULL;
UPDATE customers SET
    stage = NULLIF(stage, ''),
    tier = NULLIF(tier, ''),
    phone = NULLIF(phone, ''),
    email = NULLIF(email, ''),
    credit_code = NULLIF(credit_code, '')
WHERE stage = '' OR tier = '' OR phone = '' OR email = '' OR credit_code = '';

ALTER TABLE rule_versions ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;
ALTER TABLE value_policies ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;
ALTER TABLE strategy_state ALTER COLUMN state TYPE jsonb USING state::jsonb;
ALTER TABLE api_tokens
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz,
    ALTER COLUMN revoked_at TYPE timestamptz USING revoked_at::timestamptz;

ALTER TABLE events ALTER COLUMN at TYPE timestamptz USING at::timestamptz;
ALTER TABLE decisions ALTER COLUMN at TYPE timestamptz USING at::timestamptz;

ALTER TABLE transactions ALTER COLUMN at TYPE timestamptz USING at::timestamptz;
ALTER TABLE transactions ADD COLUMN amount_minor BIGINT;
UPDATE transactions SET amount_minor = round(amount * 100)::bigint;
ALTER TABLE transactions ALTER COLUMN amount_minor SET NOT NULL, DROP COLUMN amount;
ALTER TABLE interactions ALTER COLUMN at TYPE timestamptz USING at::timestamptz;

ALTER TABLE tier_overrides
    ALTER COLUMN expires_on TYPE date USING expires_on::date,
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE customer_values
    ALTER COLUMN as_of TYPE timestamptz USING as_of::timestamptz,
    ALTER COLUMN health_as_of TYPE timestamptz USING health_as_of::timestamptz,
    ALTER COLUMN at_risk TYPE boolean USING at_risk <> 0,
    ALTER COLUMN details TYPE jsonb USING details::jsonb,
    ALTER COLUMN health_parts TYPE jsonb USING health_parts::jsonb,
    ALTER COLUMN health DROP NOT NULL,
    ADD COLUMN monetary_minor BIGINT;
UPDATE customer_values SET monetary_minor = round(monetary * 100)::bigint WHERE monetary IS NOT NULL;
ALTER TABLE customer_values DROP COLUMN monetary;

ALTER TABLE job_runs ALTER COLUMN at TYPE timestamptz USING at::timestamptz;
ALTER TABLE tier_events ALTER COLUMN at TYPE timestamptz USING at::timestamptz;
ALTER TABLE alerts
    ALTER COLUMN at TYPE timestamptz USING at::timestamptz,
    ALTER COLUMN closed_at TYPE timestamptz USING closed_at::timestamptz;
ALTER TABLE value_runs
    ALTER COLUMN at TYPE timestamptz USING at::timestamptz,
    ALTER COLUMN summary TYPE jsonb USING summary::jsonb;
ALTER TABLE tickets
    ALTER COLUMN opened_at TYPE timestamptz USING opened_at::timestamptz,
    ALTER COLUMN closed_at TYPE timestamptz USING closed_at::timestamptz;

-- Customer lists search ids and phones as well as names, and filter by tier. Routing reads the
-- pool oldest first, customers without a creation time after the others, in chunks.
CREATE INDEX customers_tier ON customers(tier);
CREATE INDEX customers_phone ON customers(phone);
CREATE INDEX customers_pool_order ON customers(created_at, (id COLLATE "C"))
    WHERE owner_id IS NULL;
