"""A server that is down while the stack changes, or for longer than a service allows: the
containers it held are replaced on the servers that answer, and when it comes back its
reconciler removes the old ones, so every service runs the count it should."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config, HostPort
from c66d.keys import LISTENERS
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.stacks import delete_stack, unique, wait_deployment

GRACE = 1.5
SERVICE = """\
  {name}:
    image: {image}
    command: sh -c 'mkdir -p /w && echo "$VERSION" > /w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    env_vars: {{VERSION: _env(VERSION)}}
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
    constraints: {{servers: [{servers}]}}
"""


@pytest.fixture
async def fast(config: Config, hosts: list[Host], busybox_image: str
               ) -> AsyncIterator[TestClient[Any, Any]]:
    """The app with a short server_down_grace and both namespace servers up, the test image
    already on them."""
    app = create_app(config.replace(server_down_grace=GRACE))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        client.app[LISTENERS].http = HostPort("127.0.0.1", client.port or 0)
        for host in hosts:
            await asyncio.to_thread(host.load_image, busybox_image)
            await add_server(client, host)
        for host in hosts:
            await wait_server(client, host.name, "up", timeout=60)
        yield client
        for host in hosts:
            host.reconnect()


async def make_stack(client: TestClient[Any, Any], hosts: list[Host], image: str,
                     services: dict[str, str], count: int) -> str:
    """A stack whose services (name -> extra keys) run `count` containers over both hosts."""
    stack = unique("down")
    servers = ", ".join(h.name for h in hosts)
    yml = "services:\n" + "".join(
        SERVICE.format(name=name, image=image, servers=servers) + extra
        for name, extra in services.items())
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": stack, "service_yml": yml, "env": {"VERSION": "v1"}})
    assert resp.status == 201, await resp.text()
    for name in services:
        resp = await client.post(f"/api/v1/stacks/{stack}/services/{name}/scale",
                                 headers=ADMIN, json={"count": count})
        assert resp.status in (200, 202), await resp.text()
    return stack


async def deploy(client: TestClient[Any, Any], stack: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    assert resp.status == 202, await resp.text()
    done = await wait_deployment(client, (await resp.json())["id"], timeout=150)
    assert done["status"] == "succeeded", (done["reason"], done["steps"])
    return done


async def containers(client: TestClient[Any, Any], stack: str,
                     service: str = "") -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/containers?stack={stack}&service={service}",
                            headers=ADMIN)
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


def where(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(server, state) of each container, sorted."""
    return sorted((c["server"], c["state"]) for c in items)


async def dns_text(client: TestClient[Any, Any]) -> str:
    return await (await client.get("/api/v1/dns/records", headers=ADMIN)).text()


def engine_ids(host: Host, stack: str, service: str = "") -> set[str]:
    label = f"label=c66d.service={service}" if service else f"label=c66d.stack={stack}"
    out = host.docker("ps", "-aq", "--no-trunc", "--filter", f"label=c66d.stack={stack}",
                      "--filter", label)
    return set(out.stdout.split())


async def until(what: str, check: Any, timeout: float = 60) -> float:
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_rollout_while_a_server_is_down(fast: TestClient[Any, Any], hosts: list[Host],
                                              busybox_image: str) -> None:
    client, (a, b) = fast, hosts
    stack = await make_stack(client, hosts, busybox_image, {"web": ""}, 2)
    try:
        await deploy(client, stack)
        first = await containers(client, stack)
        assert where(first) == [(a.name, "healthy"), (b.name, "healthy")]
        on_b = next(c for c in first if c["server"] == b.name)

        b.cut_off()

        async def b_unknown() -> bool:
            return where(await containers(client, stack)) == [(a.name, "healthy"),
                                                              (b.name, "unknown")]

        await until("b's container unknown", b_unknown)
        resp = await client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN,
                                json={"variables": {"VERSION": "v2"}})
        assert resp.status == 200, await resp.text()
        done = await deploy(client, stack)  # not failed by the server that does not answer
        steps = [(s["action"], s["server"]) for s in done["steps"]]
        assert ("abandon", b.name) in steps and ("start", b.name) not in steps
        during = await containers(client, stack)
        assert where(during) == [(a.name, "healthy"), (a.name, "healthy"),
                                 (b.name, "abandoned")]
        assert on_b["address"] not in await dns_text(client)
        new = [c for c in during if c["state"] == "healthy"]
        assert all(c["deployment"] == done["number"] for c in new), new

        b.reconnect()
        await wait_server(client, b.name, "up", timeout=60)

        async def settled() -> bool:
            now = await containers(client, stack)
            return (where(now) == [(a.name, "healthy"), (a.name, "healthy")]
                    and not await asyncio.to_thread(engine_ids, b, stack))

        await until("b's old container removed", settled)
        actions = (await (await client.get(
            f"/api/v1/reconciler/actions?stack={stack}&server={b.name}",
            headers=ADMIN)).json())["items"]
        assert any(x["action"] == "removed" and x["container"] == on_b["id"] for x in actions)
        records = await dns_text(client)
        assert all(c["address"] in records for c in new)
    finally:
        for host in hosts:
            host.reconnect()
            await delete_stack(client, stack, host.docker_url)


async def test_reschedule_after_moves_only_that_service(
        fast: TestClient[Any, Any], hosts: list[Host], busybox_image: str) -> None:
    client, (a, b) = fast, hosts
    stack = await make_stack(client, hosts, busybox_image,
                             {"web": "    reschedule_after: 2s\n", "worker": ""}, 2)
    try:
        await deploy(client, stack)
        worker_b = next(c for c in await containers(client, stack, "worker")
                        if c["server"] == b.name)
        web_b = next(c for c in await containers(client, stack, "web")
                     if c["server"] == b.name)

        cut = time.monotonic()
        b.cut_off()

        async def moved() -> bool:
            web = where(await containers(client, stack, "web"))
            return web == [(a.name, "healthy"), (a.name, "healthy"), (b.name, "abandoned")]

        took = await until("web moved to a", moved, timeout=90)
        print(f"cut off -> web healthy on the other server {time.monotonic() - cut:.2f}s")
        assert took >= 2.0  # not before reschedule_after
        # worker has no reschedule_after: it waits for its server.
        assert where(await containers(client, stack, "worker")) == [(a.name, "healthy"),
                                                                    (b.name, "unknown")]
        listing = await (await client.get(f"/api/v1/stacks/{stack}/deployments",
                                          headers=ADMIN)).json()
        newest = listing["items"][0]
        assert newest["actor"].startswith(f"c66d: server {b.name} down for"), newest
        assert newest["actor"].endswith("moves web")
        done = await wait_deployment(client, newest["id"])
        assert done["status"] == "succeeded"
        assert {s["service"] for s in done["steps"] if s["service"]} == {"web"}

        b.reconnect()
        await wait_server(client, b.name, "up", timeout=60)

        async def settled() -> bool:
            web = where(await containers(client, stack, "web"))
            worker = where(await containers(client, stack, "worker"))
            return (web == [(a.name, "healthy"), (a.name, "healthy")]
                    and worker == [(a.name, "healthy"), (b.name, "healthy")]
                    and not await asyncio.to_thread(engine_ids, b, stack, "web"))

        await until("web back to two, worker back on b", settled)
        now_b = await asyncio.to_thread(engine_ids, b, stack)
        assert now_b == {worker_b["id"]}  # the same worker, never replaced
        assert web_b["address"] not in await dns_text(client)
    finally:
        for host in hosts:
            host.reconnect()
            await delete_stack(client, stack, host.docker_url)


async def test_server_cut_off_while_its_old_container_drains(
        fast: TestClient[Any, Any], hosts: list[Host], busybox_image: str) -> None:
    """The link breaks in the middle of draining: the old container there is abandoned, the
    rollout succeeds, and the container is removed once the server answers again."""
    client, b = fast, hosts[1]
    stack = await make_stack(client, hosts, busybox_image,
                             {"web": "    pre_stop_sequence: 4s:USR1\n"}, 2)
    try:
        await deploy(client, stack)
        on_b = next(c for c in await containers(client, stack) if c["server"] == b.name)
        resp = await client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN,
                                json={"variables": {"VERSION": "v2"}})
        assert resp.status == 200, await resp.text()
        resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
        assert resp.status == 202, await resp.text()
        second = (await resp.json())["id"]

        async def draining() -> bool:
            now = {c["id"]: c["state"] for c in await containers(client, stack)}
            return now.get(on_b["id"]) == "draining"

        await until("b's old container draining", draining, timeout=120)
        await asyncio.sleep(1.0)  # inside its 4 s pre-stop wait
        b.cut_off()
        done = await wait_deployment(client, second, timeout=120)
        assert done["status"] == "succeeded", done
        assert any(s["action"] == "abandon" and s["server"] == b.name for s in done["steps"])
        b.reconnect()
        await wait_server(client, b.name, "up", timeout=60)

        async def settled() -> bool:
            now = await containers(client, stack)
            return (len(now) == 2 and all(c["state"] == "healthy" for c in now)
                    and on_b["id"] not in await asyncio.to_thread(engine_ids, b, stack))

        await until("b's old container removed", settled)
    finally:
        for host in hosts:
            host.reconnect()
            await delete_stack(client, stack, host.docker_url)
