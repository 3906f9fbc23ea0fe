"""ElasticDNS behaviours seen from containers on two real servers (namespace hosts) asking c66d's
DNS through the WireGuard mesh: during a rollout of a `dns_behaviour: versioned` service each
container gets the addresses of its own version; `load_balancing: closest` answers the caller's
server first."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from c66d.orchestrator.testhook import ENV as PAUSE_AT
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.stacks import remove_stack_containers, unique, wait_deployment
from tests.test_net_hosts import in_container, wait_mesh
from tests.test_rollout_local import dig

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir /w && echo "$VERSION" >/w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    env_vars: {{VERSION: _env(VERSION)}}
    health: {{endpoint: /index.html, timeout: 20s}}
    dns_behaviour: versioned
    stop_grace: 1s
    constraints: {{servers: [{servers}]}}
  near:
    image: {image}
    command: sleep 3600
    load_balancing: closest
    stop_grace: 1s
    constraints: {{servers: [{servers}]}}
"""
_ADDRESS = re.compile(r"^Address:\s+(\S+)\s*$", re.MULTILINE)


@pytest.fixture
async def stack(client: TestClient[Any, Any], hosts: list[Host],
                busybox_image: str) -> AsyncIterator[str]:
    for host in hosts:
        await asyncio.to_thread(host.load_image, busybox_image)
        await add_server(client, host)
    for host in hosts:
        await wait_server(client, host.name, "up")
    name = unique("vers")
    yml = SERVICE_YML.format(image=busybox_image, servers=", ".join(h.name for h in hosts))
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": name, "service_yml": yml, "env": {"VERSION": "v1"}})
    assert resp.status == 201, await resp.text()
    for service in ("web", "near"):
        resp = await client.post(f"/api/v1/stacks/{name}/services/{service}/scale",
                                 headers=ADMIN, json={"count": 2})
        assert resp.status == 200, await resp.text()
    yield name
    for host in hosts:
        remove_stack_containers(name, host.docker_url)


async def lookup(host: Host, container: str, name: str) -> list[str]:
    """The addresses busybox nslookup prints for `name`, in the order of the answer (the
    container asks Docker's resolver, which forwards from the container's address to c66d)."""
    code, out = await in_container(host, container, "nslookup", "-type=a", name)
    assert code == 0, out
    answer = out.split("Name:", 1)[1] if "Name:" in out else ""
    return _ADDRESS.findall(answer)


async def containers(client: TestClient[Any, Any], stack: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/containers?stack={stack}", headers=ADMIN)
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def paused_at_healthy(client: TestClient[Any, Any], deployment: int,
                            timeout: float = 90) -> None:
    """Until the rollout has published its first new web container healthy (and holds)."""
    deadline = time.monotonic() + timeout
    while True:
        body = await (await client.get(f"/api/v1/deployments/{deployment}",
                                       headers=ADMIN)).json()
        if any(s["action"] == "healthy" and s["service"] == "web" for s in body["steps"]):
            return
        assert body["status"] in ("pending", "running"), body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.2)


async def test_versioned_answers_mid_rollout_and_closest_first_across_servers(
        client: TestClient[Any, Any], hosts: list[Host], stack: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await wait_mesh(client, {"local", *(h.name for h in hosts)})
    resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    assert resp.status == 202, await resp.text()
    done = await wait_deployment(client, (await resp.json())["id"])
    assert done["status"] == "succeeded", done
    by_host = {h.name: h for h in hosts}
    first = await containers(client, stack)
    near = [c for c in first if c["service"] == "near"]
    assert {c["server"] for c in near} == set(by_host), near

    # closest: each near container is answered its own server's container first
    for caller in near:
        for _ in range(3):
            got = await lookup(by_host[caller["server"]], caller["name"], "near")
            assert sorted(got) == sorted(c["address"] for c in near), got
            assert got[0] == caller["address"], (caller["server"], got)

    # a new version, held right after its first web container became healthy (in DNS) while
    # both old ones still serve
    old = [c for c in first if c["service"] == "web"]
    assert len(old) == 2 and {c["server"] for c in old} == set(by_host)
    resp = await client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN,
                            json={"variables": {"VERSION": "v2"}})
    assert resp.status == 200
    monkeypatch.setenv(PAUSE_AT, "healthy:web")
    resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    assert resp.status == 202, await resp.text()
    await paused_at_healthy(client, (await resp.json())["id"])
    monkeypatch.delenv(PAUSE_AT)
    now = await containers(client, stack)
    [new] = [c for c in now if c["service"] == "web" and c["state"] == "healthy"
             and c["id"] not in {o["id"] for o in old}]
    old_addresses = sorted(c["address"] for c in old)
    for caller in old:  # each old one, on either server: the old version's addresses only
        got = await lookup(by_host[caller["server"]], caller["name"], "web")
        assert sorted(got) == old_addresses, (caller["server"], got)
    got = await lookup(by_host[new["server"]], new["name"], "web")
    assert got == [new["address"]], got
    # a container of the stack's older deployment (near) is of the old version too
    other = next(c for c in near if c["server"] != new["server"])
    got = await lookup(by_host[other["server"]], other["name"], "web")
    assert sorted(got) == old_addresses, got
    # a caller that is no container (here: the c66d host itself) gets every healthy one
    got = await dig(client, f"web.{stack}.c66.internal")
    assert got == sorted([*old_addresses, new["address"]]), got
