-- The value report (the dashboard's tiers and segments) groups every graded customer by tier,
-- ABC class and RFM segment: read from this index alone (an index-only scan once the table's
-- pages are all visible) instead of from the wide value rows. The two health counts come from
-- the partial indexes below, which hold only the customers they count. Their conditions name
-- `health` and `at_risk`, so the daily health refresh's updates are not heap-only ones and
-- write an entry in each index (they seldom were: the rows are wide and the pages full). The
-- index on the tier alone is this one's first column.
CREATE INDEX customer_values_report ON customer_values(tier, abc, rfm_segment)
    INCLUDE (as_of, monetary_minor, clv, score, customer_id);
DROP INDEX customer_values_tier;
CREATE INDEX customer_values_at_risk ON customer_values(customer_id)
    WHERE at_risk AND health IS NOT NULL;
CREATE INDEX customer_values_health_unknown ON customer_values(customer_id)
    WHERE health IS NULL;
