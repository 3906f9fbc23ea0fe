-- Deployments (numbered per stack), their step log, and the containers c66d runs.
CREATE TABLE deployments (
    id INTEGER PRIMARY KEY,
    stack TEXT NOT NULL,
    number INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT NOT NULL DEFAULT '',
    snapshot TEXT NOT NULL,
    rollback_of INTEGER,
    actor TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    UNIQUE (stack, number)
);
CREATE INDEX deployments_stack ON deployments (stack, number);

CREATE TABLE deployment_steps (
    id INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    at REAL NOT NULL,
    service TEXT NOT NULL DEFAULT '',
    server TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'ok',
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deployment_steps_deployment ON deployment_steps (deployment_id, id);

CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stack TEXT NOT NULL,
    service TEXT NOT NULL,
    server TEXT NOT NULL,
    deployment INTEGER NOT NULL,
    image TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    health TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX containers_stack ON containers (stack, service);
CREATE INDEX containers_server ON containers (server);
