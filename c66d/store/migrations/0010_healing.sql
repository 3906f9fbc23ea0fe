-- Self-healing: crash counts and last log lines of containers, the create config of each
-- container (to recreate one removed by hand), and what the reconciler did.
ALTER TABLE containers ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN next_try REAL NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN last_log TEXT NOT NULL DEFAULT '';

CREATE TABLE container_configs (
    name TEXT PRIMARY KEY,
    server TEXT NOT NULL,
    config TEXT NOT NULL
);

CREATE TABLE container_actions (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    server TEXT NOT NULL,
    stack TEXT NOT NULL DEFAULT '',
    service TEXT NOT NULL DEFAULT '',
    container TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX container_actions_server ON container_actions (server, id);
CREATE INDEX container_actions_stack ON container_actions (stack, id);
