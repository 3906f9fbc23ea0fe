"""ContainerNet with `net_overlay = vxlan` across real servers (namespace hosts over SSH): kernel
VXLAN interfaces with planned forwarding entries join the subnets, so a container on one server
reaches a container on another by address and by name, and the mesh shows every peer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.stacks import remove_stack_containers, unique, wait_deployment
from tests.test_net_hosts import FETCH, SERVICE_YML, in_container


@pytest.fixture
async def vxlan_client(config: Config, hosts: list[Host]) -> AsyncIterator[TestClient[Any, Any]]:
    """The app with the VXLAN overlay; the servers' VXLAN interfaces go when it is done (the
    c66d host's go with c66d)."""
    app = create_app(config.replace(net_overlay="vxlan"))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client
    for host in hosts:
        links = host.run("ip", "-o", "link", "show", "type", "vxlan", check=False).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(f"{config.net_name}x"):
                host.run("ip", "link", "del", name, check=False)


async def wait_vxlan(client: TestClient[Any, Any], servers: set[str],
                     timeout: float = 30) -> dict[str, Any]:
    """Until every node has a forwarding entry for every other one (bounded)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = await (await client.get("/api/v1/net/mesh", headers=ADMIN)).json()
        known = {n["server"]: {p["server"] for p in n["peers"] if p["in_fdb"]}
                 for n in body["nodes"]}
        if set(known) == servers and all(known[s] == servers - {s} for s in servers):
            return body
        await asyncio.sleep(0.3)
    pytest.fail(f"the VXLAN mesh did not form in {timeout}s: {body}")


async def test_containers_on_two_servers_reach_each_other_over_vxlan(
        vxlan_client: TestClient[Any, Any], hosts: list[Host], busybox_image: str) -> None:
    client = vxlan_client
    one, two = hosts
    for host in hosts:
        await asyncio.to_thread(host.load_image, busybox_image)
        await add_server(client, host)
    for host in hosts:
        await wait_server(client, host.name, "up")
    mesh = await wait_vxlan(client, {"local", one.name, two.name})
    assert mesh["overlay"] == "vxlan" and all(not n["error"] for n in mesh["nodes"]), mesh
    by_server = {n["server"]: n for n in mesh["nodes"]}
    [to_one] = [p for p in by_server["local"]["peers"] if p["server"] == one.name]
    assert to_one["endpoint"] == one.address and to_one["mac"] == by_server[one.name]["mac"]
    shown = await asyncio.to_thread(one.run, "ip", "-d", "link", "show",
                                    by_server[one.name]["interface"])
    assert "vxlan id 66" in shown.stdout, shown.stdout

    stack = unique("vxlan")
    yml = SERVICE_YML.format(image=busybox_image, web_on=one.name, client_on=two.name)
    resp = await client.post("/api/v1/stacks", headers=ADMIN,
                             json={"name": stack, "service_yml": yml})
    assert resp.status == 201, await resp.text()
    try:
        resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
        assert resp.status == 202, await resp.text()
        done = await wait_deployment(client, (await resp.json())["id"])
        assert done["status"] == "succeeded", done
        items = (await (await client.get(f"/api/v1/containers?stack={stack}",
                                         headers=ADMIN)).json())["items"]
        web = next(c for c in items if c["service"] == "web")
        other = next(c for c in items if c["service"] == "client")
        assert (web["server"], other["server"]) == (one.name, two.name)
        route = await asyncio.to_thread(two.run, "ip", "route", "get", web["address"])
        assert f"dev {by_server[two.name]['interface']}" in route.stdout, route.stdout
        code, out = await in_container(two, other["name"], "ping", "-c", "1", "-W", "5",
                                       web["address"])
        assert code == 0, out
        code, out = await in_container(two, other["name"], "nslookup", "web")
        assert f"Address: {web['address']}" in out, out
        code, out = await in_container(two, other["name"], "sh", "-c", FETCH, "sh", "web")
        assert out.strip() == f"on {web['id'][:12]}", out
    finally:
        await client.delete(f"/api/v1/stacks/{stack}", headers=ADMIN)
        for host in hosts:
            remove_stack_containers(stack, host.docker_url)

    # a server that leaves leaves the others' forwarding entries and routes
    resp = await client.delete(f"/api/v1/servers/{two.name}", headers=ADMIN)
    assert resp.status == 204, await resp.text()
    gone_mac, gone_subnet = by_server[two.name]["mac"], by_server[two.name]["subnet"]
    deadline = time.monotonic() + 20
    while True:
        fdb = await asyncio.to_thread(one.run, "bridge", "fdb", "show", "dev",
                                      by_server[one.name]["interface"])
        routes = await asyncio.to_thread(one.run, "ip", "route", "show", gone_subnet)
        if gone_mac not in fdb.stdout and not routes.stdout.strip():
            break
        assert time.monotonic() < deadline, (fdb.stdout, routes.stdout)
        await asyncio.sleep(0.2)
    assert by_server["local"]["mac"] in fdb.stdout  # the others stay
