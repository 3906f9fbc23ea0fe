"""ContainerNet across real servers (namespace hosts over SSH): the WireGuard mesh joins their
subnets, so a container on one server reaches a container on another by address and by name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from c66d.keys import EVENTS
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.stacks import remove_stack_containers, unique, wait_deployment

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo "on $HOSTNAME">/w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
    constraints: {{servers: [{web_on}]}}
  client:
    image: {image}
    command: sleep 3600
    stop_grace: 1s
    constraints: {{servers: [{client_on}]}}
"""
# busybox's libc resolver crashes in a FROM scratch image: names go through nslookup (which
# asks the resolver of resolv.conf: Docker's, forwarding to c66d), HTTP through nc
FETCH = ('a=$(nslookup "$1" | sed -n "s/^Address: //p" | tail -n 1); '
         'printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc -w 5 "$a" 8000 | tail -n 1')


@dataclass
class Net:
    client: TestClient[Any, Any]
    hosts: list[Host]
    stack: str


@pytest.fixture
async def net(client: TestClient[Any, Any], hosts: list[Host],
              busybox_image: str) -> AsyncIterator[Net]:
    for host in hosts:
        await asyncio.to_thread(host.load_image, busybox_image)
        await add_server(client, host)
    for host in hosts:
        await wait_server(client, host.name, "up")
    stack = unique("mesh")
    yml = SERVICE_YML.format(image=busybox_image, web_on=hosts[0].name,
                             client_on=hosts[1].name)
    resp = await client.post("/api/v1/stacks", headers=ADMIN,
                             json={"name": stack, "service_yml": yml})
    assert resp.status == 201, await resp.text()
    yield Net(client, hosts, stack)
    for host in hosts:
        remove_stack_containers(stack, host.docker_url)


async def wait_mesh(client: TestClient[Any, Any], servers: set[str],
                    timeout: float = 30) -> dict[str, Any]:
    """Until every node has a handshake with every other one (bounded)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = await (await client.get("/api/v1/net/mesh", headers=ADMIN)).json()
        shaken = {n["server"]: {p["server"] for p in n["peers"] if p["latest_handshake"]}
                  for n in body["nodes"]}
        if set(shaken) == servers and all(shaken[s] == servers - {s} for s in servers):
            return body
        await asyncio.sleep(0.3)
    pytest.fail(f"the mesh did not form in {timeout}s: {body}")


async def in_container(host: Host, name: str, *argv: str) -> tuple[int, str]:
    done = await asyncio.to_thread(host.docker, "exec", name, *argv, check=False)
    return done.returncode, done.stdout + done.stderr


async def test_containers_on_two_servers_reach_each_other_by_address_and_name(
        net: Net) -> None:
    client, (one, two) = net.client, net.hosts
    mesh = await wait_mesh(client, {"local", one.name, two.name})
    assert all(not n["error"] for n in mesh["nodes"]), mesh
    resp = await client.post(f"/api/v1/stacks/{net.stack}/deployments", headers=ADMIN)
    assert resp.status == 202, await resp.text()
    done = await wait_deployment(client, (await resp.json())["id"])
    assert done["status"] == "succeeded", done
    items = (await (await client.get(f"/api/v1/containers?stack={net.stack}",
                                     headers=ADMIN)).json())["items"]
    web = next(c for c in items if c["service"] == "web")
    other = next(c for c in items if c["service"] == "client")
    assert (web["server"], other["server"]) == (one.name, two.name)
    subnets = {s["server"]: s["subnet"] for s in
               (await (await client.get("/api/v1/net", headers=ADMIN)).json())["subnets"]}
    assert len(set(subnets.values())) == 3

    code, out = await in_container(two, other["name"], "ping", "-c", "1", "-W", "5",
                                   web["address"])
    assert code == 0, out
    code, out = await in_container(two, other["name"], "nslookup", "web")
    assert f"Address: {web['address']}" in out, out
    code, out = await in_container(two, other["name"], "sh", "-c", FETCH, "sh", "web")
    assert out.strip() == f"on {web['id'][:12]}", out

    # a container killed on its server leaves the answers the moment the reconciler sees it
    # die (it restarts it at once, so look right then, not by polling a moment later)
    assert web["address"] in await answers(client, net.stack)
    with client.app[EVENTS].subscribe(["container.stopped"]) as stopped:
        await asyncio.to_thread(one.docker, "kill", web["name"])
        event = await asyncio.wait_for(stopped.queue.get(), 30)
        assert event.data["id"] == web["id"]
        deadline = time.monotonic() + 3  # the DNS feed takes the same event from the bus
        while web["address"] in await answers(client, net.stack):
            assert time.monotonic() < deadline, "the killed container is still answered"
            await asyncio.sleep(0.02)
    deadline = time.monotonic() + 30  # restarted by the reconciler: healthy, answered again
    while web["address"] not in await answers(client, net.stack):
        assert time.monotonic() < deadline, "the restarted container is not answered again"
        await asyncio.sleep(0.1)


async def answers(client: TestClient[Any, Any], stack: str) -> set[str]:
    resp = await client.get(f"/api/v1/dns/records?stack={stack}", headers=ADMIN)
    return {r["data"] for r in (await resp.json())["records"] if r["type"] == "A"}
