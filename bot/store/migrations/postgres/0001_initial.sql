-- The same tables as SQLite's first migration, in PostgreSQL's types.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    event TEXT NOT NULL,
    installation_id BIGINT,
    repo TEXT NOT NULL,
    issue BIGINT,
    payload BYTEA NOT NULL,  -- the raw delivery body, zlib-compressed
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX jobs_status ON jobs(status);
CREATE TABLE issue_state (
    repo TEXT NOT NULL,
    number BIGINT NOT NULL,
    data TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo, number)
);
CREATE TABLE plan_versions (
    repo TEXT NOT NULL,
    number BIGINT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (repo, number, version)
);
CREATE TABLE pr_links (
    repo TEXT NOT NULL,
    pr BIGINT NOT NULL,
    issue BIGINT NOT NULL,
    PRIMARY KEY (repo, pr)
);
CREATE TABLE ledger (
    id BIGSERIAL PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    installation_id BIGINT,
    repo TEXT NOT NULL,
    issue BIGINT,
    stage TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ledger_issue ON ledger(repo, issue);
CREATE INDEX ledger_installation ON ledger(installation_id, at);
