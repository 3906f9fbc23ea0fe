-- Deployment engine: servers provisioned on a cloud through libcloud.
CREATE TABLE cloud_nodes (
    server TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    credentials TEXT NOT NULL,          -- sealed JSON {key, secret, region}
    spec TEXT NOT NULL,                 -- JSON: size, image, location, port, user, roles
    node_id TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'creating'
        CHECK (state IN ('creating', 'booting', 'ready', 'failed', 'destroying')),
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
