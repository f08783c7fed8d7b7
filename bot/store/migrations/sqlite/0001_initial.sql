-- The tables of the first release (created with IF NOT EXISTS: files made before migrations
-- were versioned already have them).
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    event TEXT NOT NULL,
    installation_id INTEGER,
    repo TEXT NOT NULL,
    issue INTEGER,
    payload BLOB NOT NULL,  -- the raw delivery body, zlib-compressed (JSON shrinks ~5x)
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS issue_state (
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (repo, number)
);
CREATE TABLE IF NOT EXISTS plan_versions (
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (repo, number, version)
);
CREATE TABLE IF NOT EXISTS pr_links (
    repo TEXT NOT NULL,
    pr INTEGER NOT NULL,
    issue INTEGER NOT NULL,
    PRIMARY KEY (repo, pr)
);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    installation_id INTEGER,
    repo TEXT NOT NULL,
    issue INTEGER,
    stage TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_issue ON ledger(repo, issue);
CREATE INDEX IF NOT EXISTS ledger_installation ON ledger(installation_id, at);
