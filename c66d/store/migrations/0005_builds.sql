-- BuildGrid: the build queue and each stack's git deploy key.
CREATE TABLE builds (
    id INTEGER PRIMARY KEY,
    stack TEXT NOT NULL,
    service TEXT NOT NULL,
    ref TEXT NOT NULL DEFAULT '',
    branch TEXT NOT NULL DEFAULT '',
    commit_sha TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    reason TEXT NOT NULL DEFAULT '',
    step TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT '',
    image TEXT NOT NULL DEFAULT '',
    log_path TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL DEFAULT 'api',
    actor TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX builds_status ON builds (status, id);
CREATE INDEX builds_service ON builds (stack, service, id);
CREATE INDEX builds_commit ON builds (commit_sha);

CREATE TABLE build_keys (
    stack TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at REAL NOT NULL
);
