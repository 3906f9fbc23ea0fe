-- Stacks: their service file, variables (secret ones sealed), container counts.
CREATE TABLE stacks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    service_yml TEXT NOT NULL,
    hook_secret TEXT NOT NULL,
    auto_deploy INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE stack_env (
    stack_id INTEGER NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    secret INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stack_id, name)
);

CREATE TABLE service_scale (
    stack_id INTEGER NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (stack_id, service)
);
