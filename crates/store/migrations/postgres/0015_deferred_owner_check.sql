-- SQLite's owner foreign key is checked at commit from here on, to spare it a statement journal
-- per owner update. PostgreSQL journals nothing per statement and would only queue a trigger
-- event per changed row for the commit: nothing to change, the number kept in step with SQLite.
SELECT 1;
