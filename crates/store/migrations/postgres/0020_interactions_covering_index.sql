-- The daily jobs and the service report read every customer's interactions in customer and time
-- order (health's days and minutes, the last real follow-up, the window's counts): with the
-- kind, outcome and minutes in the index beside the customer and time, those reads are an
-- ordered scan of the index alone instead of a table lookup per interaction (5,000,000
-- interactions in the sqlite3 shell: 0.54 s against 3.7 s). It replaces the index on
-- (customer_id, at), which is its prefix.
CREATE INDEX interactions_customer_time ON interactions(customer_id, at, kind, outcome, minutes);
DROP INDEX interactions_customer;
