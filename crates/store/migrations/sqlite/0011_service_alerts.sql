-- Skew alerts of the service reports (issue 12): a tier's share of effort outside its band, a
-- team past its new-customer budget, a rep loaded past the threshold; raised and closed by the
-- daily job of tick, one open alert per kind and subject.
CREATE TABLE service_alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    raised_at TEXT NOT NULL,
    closed_at TEXT,
    -- open or closed
    status TEXT NOT NULL
);
CREATE UNIQUE INDEX service_alerts_open ON service_alerts(kind, subject) WHERE status = 'open';
