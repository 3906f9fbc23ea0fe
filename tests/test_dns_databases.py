"""Database names: a stack whose service.yml lists `databases:` gets `<type>.<stack>.<zone>`,
answering the addresses of the servers that carry that database type as a role."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.http import ADMIN
from tests.support.stacks import unique
from tests.test_rollout_local import dig

YML = """\
services:
  web:
    image: c66d-test/none:latest
databases:
  - postgresql
  - redis
"""


async def answered(client: TestClient[Any, Any], name: str, want: list[str],
                   timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (got := await dig(client, name)) != want:
        assert asyncio.get_running_loop().time() < deadline, (name, got, want)
        await asyncio.sleep(0.1)


async def test_database_names_follow_servers_with_the_database_role(
        client: TestClient[Any, Any]) -> None:
    stack = unique("dbs")
    resp = await client.post("/api/v1/stacks", headers=ADMIN,
                             json={"name": stack, "service_yml": YML})
    assert resp.status == 201, await resp.text()
    zone = f"{stack}.c66.internal"
    # nothing listens on these loopback addresses: the servers stay down, their roles count
    for name, address, roles in (("pg1", "127.0.0.61", ["postgresql"]),
                                 ("pg2", "127.0.0.62", ["postgresql", "app"]),
                                 ("app1", "127.0.0.63", ["app"])):
        resp = await client.post("/api/v1/servers", headers=ADMIN, json={
            "name": name, "address": address, "port": 1, "roles": roles})
        assert resp.status == 201, await resp.text()
    await answered(client, f"postgresql.{zone}", ["127.0.0.61", "127.0.0.62"])
    assert await dig(client, f"redis.{zone}") == []  # listed, but no server carries it
    assert await dig(client, f"mysql.{zone}") == []

    resp = await client.delete("/api/v1/servers/pg1", headers=ADMIN)
    assert resp.status == 204
    await answered(client, f"postgresql.{zone}", ["127.0.0.62"])
    resp = await client.put(f"/api/v1/stacks/{stack}", headers=ADMIN,
                            json={"service_yml": YML.replace("postgresql", "mysql")})
    assert resp.status == 200, await resp.text()
    await answered(client, f"postgresql.{zone}", [])
    resp = await client.delete(f"/api/v1/stacks/{stack}", headers=ADMIN)
    assert resp.status == 204
    for name in ("pg2", "app1"):
        await client.delete(f"/api/v1/servers/{name}", headers=ADMIN)
