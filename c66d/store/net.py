"""ContainerNet state: a subnet and WireGuard key pair per server, an address per container."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiosqlite

from c66d.net.ipam import next_address, next_subnet
from c66d.store.db import Database
from c66d.store.secretbox import SecretBox


@dataclass(frozen=True)
class Subnet:
    server: str
    subnet: str
    public_key: str
    created_at: float


@dataclass(frozen=True)
class Lease:
    address: str
    server: str
    holder: str  # the container's name
    stack: str
    allocated_at: float


def _subnet(row: aiosqlite.Row) -> Subnet:
    return Subnet(row["server"], row["subnet"], row["public_key"], row["created_at"])


class NetStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    async def subnets(self) -> list[Subnet]:
        rows = await self.db.fetchall("SELECT * FROM net_subnets ORDER BY subnet")
        return [_subnet(r) for r in rows]

    async def subnet(self, server: str) -> Subnet | None:
        row = await self.db.fetchone("SELECT * FROM net_subnets WHERE server = ?", (server,))
        return None if row is None else _subnet(row)

    async def private_key(self, server: str) -> str:
        row = await self.db.fetchone(
            "SELECT private_key FROM net_subnets WHERE server = ?", (server,))
        return self.box.open(row[0]) if row is not None and row[0] else ""

    async def ensure_subnet(self, server: str, cluster: str, prefix: int,
                            key_pair: tuple[str, str]) -> Subnet:
        """The server's subnet, cut from the cluster range on first use (with its keys)."""
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT * FROM net_subnets WHERE server = ?", (server,))
            row = await cur.fetchone()
            if row is not None:
                return _subnet(row)
            cur = await conn.execute("SELECT subnet FROM net_subnets")
            used = [r[0] for r in await cur.fetchall()]
            subnet = next_subnet(cluster, prefix, used)
            private, public = key_pair
            now = time.time()
            await conn.execute(
                "INSERT INTO net_subnets (server, subnet, public_key, private_key, created_at)"
                " VALUES (?, ?, ?, ?, ?)", (server, subnet, public, self.box.seal(private), now))
        return Subnet(server, subnet, public, now)

    async def release_subnet(self, server: str) -> bool:
        """Forget a removed server's subnet and every address in it."""
        async with self.db.write() as conn:
            cur = await conn.execute("DELETE FROM net_subnets WHERE server = ?", (server,))
            return cur.rowcount > 0

    async def lease(self, server: str, holder: str, stack: str = "") -> Lease:
        """An address in the server's subnet for `holder`, the same one if it has one already.

        Read and insert happen in one BEGIN IMMEDIATE transaction: two rollouts (or two
        processes) can never be handed the same address."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT * FROM net_addresses WHERE server = ? AND holder = ?", (server, holder))
            row = await cur.fetchone()
            if row is not None:
                return Lease(**dict(row))
            cur = await conn.execute(
                "SELECT subnet, last_address FROM net_subnets WHERE server = ?", (server,))
            subnet_row = await cur.fetchone()
            if subnet_row is None:
                raise LookupError(f"server {server!r} has no subnet")
            cur = await conn.execute(
                "SELECT address FROM net_addresses WHERE server = ?", (server,))
            used = [r[0] for r in await cur.fetchall()]
            address = next_address(subnet_row[0], used, subnet_row[1])
            now = time.time()
            await conn.execute(
                "INSERT INTO net_addresses (address, server, holder, stack, allocated_at)"
                " VALUES (?, ?, ?, ?, ?)", (address, server, holder, stack, now))
            await conn.execute("UPDATE net_subnets SET last_address = ? WHERE server = ?",
                               (address, server))
        return Lease(address, server, holder, stack, now)

    async def release(self, server: str, holder: str) -> str:
        """Give back the holder's address; returns it ('' when it held none)."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "DELETE FROM net_addresses WHERE server = ? AND holder = ? RETURNING address",
                (server, holder))
            row = await cur.fetchone()
        return "" if row is None else str(row[0])

    async def leases(self, server: str = "") -> list[Lease]:
        rows = await self.db.fetchall(
            "SELECT * FROM net_addresses WHERE (? = '' OR server = ?) ORDER BY server, address",
            (server, server))
        return [Lease(**dict(r)) for r in rows]

    async def release_orphans(self, older_than: float) -> int:
        """Addresses whose container c66d no longer records (a crash between lease and
        removal), leased more than `older_than` seconds ago, go back to the pool."""
        cutoff = time.time() - older_than
        async with self.db.write() as conn:
            cur = await conn.execute(
                "DELETE FROM net_addresses WHERE allocated_at < ? AND NOT EXISTS ("
                " SELECT 1 FROM containers c WHERE c.server = net_addresses.server"
                " AND c.name = net_addresses.holder)", (cutoff,))
            return cur.rowcount
