-- Service clocks on tickets (issue 12): what a ticket is, when it was first answered and
-- resolved, how often reopened and how rated; the customer's tier when it opened (its promise);
-- the escalation level reached; and every step of its life in ticket_events.
ALTER TABLE tickets ADD COLUMN kind TEXT NOT NULL DEFAULT 'request';
ALTER TABLE tickets ADD COLUMN first_response_at TEXT;
ALTER TABLE tickets ADD COLUMN resolved_at TEXT;
ALTER TABLE tickets ADD COLUMN reopened BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN reopened_at TEXT;
ALTER TABLE tickets ADD COLUMN rating BIGINT;
ALTER TABLE tickets ADD COLUMN tier TEXT;
ALTER TABLE tickets ADD COLUMN escalation_level BIGINT NOT NULL DEFAULT 0;
-- The escalation job reads the tickets still open.
CREATE INDEX tickets_open ON tickets(opened_at) WHERE closed_at IS NULL AND resolved_at IS NULL;

CREATE TABLE ticket_events (
    id INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    -- opened, responded, resolved, reopened, rated, escalated, updated
    kind TEXT NOT NULL,
    -- escalated: the level reached and who was told (NULL: the admins)
    level BIGINT,
    recipient_rep_id TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id, id);

ALTER TABLE notifications ADD COLUMN ticket_id TEXT;
