-- PostgreSQL's customer id columns take the byte-order collation of `customers.id` here, so an
-- index on one side of a join by customer id can be used. SQLite compares text byte by byte
-- everywhere already: nothing to change, the number kept in step with PostgreSQL's.
SELECT 1;
