-- No query looks a customer up by phone: the list's search finds digits anywhere in the number,
-- which an ordered index cannot answer. Every customer written paid for the index all the same,
-- and on PostgreSQL every change of owner too (a changed owner is a new row version, entered in
-- every index of the table). A lookup by exact phone number, when one comes, brings its own.
DROP INDEX customers_phone;
