-- The owner's foreign key is checked at commit instead of after every statement.
--
-- An immediate foreign key makes SQLite open a statement journal for every statement that
-- writes `customers.owner_id` (a copy of each page the statement touches, so that it can be
-- undone alone): a route of a million customers spent about a third of its owner updates
-- copying pages. Checked at commit the key is just as enforced (the transaction cannot commit
-- with an owner that is not a rep), and every owner Allot writes is checked against the active
-- reps before it is written, so the check at commit is a backstop, not an error path.
--
-- SQLite cannot alter a constraint; its documented way for a change that leaves the stored
-- rows as they are is to edit the table's text in the schema. The temporary table then moves
-- the schema cookie, so every open connection reads the new text before its next statement.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
SET sql = replace(sql, 'owner_id TEXT REFERENCES reps(id)',
                       'owner_id TEXT REFERENCES reps(id) DEFERRABLE INITIALLY DEFERRED')
WHERE type = 'table' AND name = 'customers';
PRAGMA writable_schema = RESET;
CREATE TABLE schema_cookie_moves (unused INTEGER);
DROP TABLE schema_cookie_moves;
