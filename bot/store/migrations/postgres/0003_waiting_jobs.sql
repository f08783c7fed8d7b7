-- See sqlite/0003_waiting_jobs.sql: waiting jobs are skipped by index and woken by their lock.
ALTER TABLE jobs ADD COLUMN waiting BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX jobs_claimable ON jobs(status, waiting, id);
CREATE INDEX jobs_lock_key ON jobs(lock_key);
