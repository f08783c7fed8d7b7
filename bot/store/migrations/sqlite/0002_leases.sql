-- Jobs run under a lease (owner, expiry) so a dead process's job is taken over, and each
-- job's issue lock lives in the store so serialization holds for every process sharing it.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until REAL;
-- NULL until the claimer works it out; '' for a job that runs without the issue lock.
ALTER TABLE jobs ADD COLUMN lock_key TEXT;
CREATE TABLE issue_locks (
    key TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL,
    owner TEXT NOT NULL,
    lease_until REAL NOT NULL
);
-- Dollars held by model calls in flight, per shared limit, so processes cannot overshoot together.
CREATE TABLE budget_reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    amount REAL NOT NULL,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX budget_reservations_key ON budget_reservations(key);
