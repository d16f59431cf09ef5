-- PostgreSQL checks customers' owners once per statement from here on (its foreign key checked
-- each changed row on its own). SQLite checks its deferred key at commit, in one pass: nothing
-- to change, the number kept in step with PostgreSQL.
SELECT 1;
