-- Core: settings kept by c66d itself, servers, the audit trail.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE servers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('local', 'ssh')),
    address TEXT NOT NULL DEFAULT '',
    port INTEGER NOT NULL DEFAULT 22,
    username TEXT NOT NULL DEFAULT 'root',
    host_key TEXT NOT NULL DEFAULT '',
    pending_host_key TEXT NOT NULL DEFAULT '',
    docker_socket TEXT NOT NULL DEFAULT '/var/run/docker.sock',
    roles TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL DEFAULT 'unknown',
    state_reason TEXT NOT NULL DEFAULT '',
    docker_version TEXT NOT NULL DEFAULT '',
    last_seen REAL,
    created_at REAL NOT NULL
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    stack TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_stack ON audit (stack, id);
