-- Leases, issue locks and budget reservations shared by every instance (see sqlite/0002_leases.sql).
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN lock_key TEXT;
CREATE TABLE issue_locks (
    key TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    owner TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL
);
CREATE TABLE budget_reservations (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    owner TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX budget_reservations_key ON budget_reservations(key);
