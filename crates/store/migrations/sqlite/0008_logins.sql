-- Password logins and web sessions (issue 11). A rep's password is an argon2id hash in PHC form;
-- a session is kept by the SHA-256 of its cookie value, with the CSRF token its forms carry, and
-- ends at logout, at the rep's deactivation, or after idle time. Every login attempt is logged:
-- five failures within 15 minutes lock the account for 15 minutes.
ALTER TABLE reps ADD COLUMN password_hash TEXT;

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    rep_id TEXT NOT NULL REFERENCES reps(id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX sessions_rep ON sessions(rep_id);

CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY,
    rep_id TEXT NOT NULL,
    at TEXT NOT NULL,
    succeeded INTEGER NOT NULL,
    address TEXT
);
CREATE INDEX login_attempts_rep ON login_attempts(rep_id, at);
