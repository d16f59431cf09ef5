-- A handful of tiers: the index was read for a third of the table at best, and every write of a
-- customer paid for it. (SQLite compares text byte by byte already.)
DROP INDEX customers_tier;
