-- The care calendar (issue 12): tasks a customer is owed (a cadence of real follow-ups, renewal
-- reminders, anniversaries), each named for ever by its key so it is never planned twice; done
-- by an interaction, or cancelled when a tier change or a follow-up moves a future cadence.
CREATE TABLE care_tasks (
    id INTEGER PRIMARY KEY,
    task_key TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    -- The owner the task is for (NULL: the customer is in the pool).
    owner_id TEXT,
    kind TEXT NOT NULL,
    due_on TEXT NOT NULL,
    -- open, done, cancelled
    state TEXT NOT NULL DEFAULT 'open',
    created_at TEXT NOT NULL,
    closed_at TEXT,
    interaction_id TEXT,
    overdue_notified INTEGER NOT NULL DEFAULT 0,
    escalated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX care_tasks_open ON care_tasks(customer_id) WHERE state = 'open';
CREATE INDEX care_tasks_owner ON care_tasks(owner_id, due_on);
