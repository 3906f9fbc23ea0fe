-- ContainerNet: a subnet (and WireGuard key pair) per server, an address per container.
CREATE TABLE net_subnets (
    server TEXT PRIMARY KEY,
    subnet TEXT NOT NULL UNIQUE,
    last_address TEXT NOT NULL DEFAULT '',
    public_key TEXT NOT NULL DEFAULT '',
    private_key TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);

CREATE TABLE net_addresses (
    address TEXT PRIMARY KEY,
    server TEXT NOT NULL REFERENCES net_subnets (server) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    stack TEXT NOT NULL DEFAULT '',
    allocated_at REAL NOT NULL,
    UNIQUE (server, holder)
);
CREATE INDEX net_addresses_server ON net_addresses (server);
