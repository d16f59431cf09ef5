-- Every column holding a customer id compares byte by byte, as `customers.id` has since 0003.
-- With two collations on the two sides of `x.customer_id = c.id` PostgreSQL cannot use the
-- index on `x.customer_id` for the comparison: the service report's newest event per customer
-- became a scan of the whole event log per customer (more than five minutes for 200,000
-- customers, where the index makes it a second). One collation for one kind of key.
ALTER TABLE alerts ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE care_tasks ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE customer_values ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE decisions ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE events ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE interactions ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE notifications ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE tickets ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE tier_events ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE tier_overrides ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE transactions ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE transfer_customers ALTER COLUMN customer_id TYPE text COLLATE "C";
