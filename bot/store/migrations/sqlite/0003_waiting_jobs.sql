-- A pending job whose issue lock another job holds is marked waiting, so claims skip it by index
-- instead of re-reading every such job; the lock's release (or expiry) wakes its waiters.
ALTER TABLE jobs ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_claimable ON jobs(status, waiting, id);
CREATE INDEX jobs_lock_key ON jobs(lock_key);
