"""The reconciler on a namespace server over SSH: docker kill there, and the server cut off and
back: its containers go unknown and out of DNS, then come back once it answers again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config, HostPort
from c66d.keys import LISTENERS
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.registry import DockerCli
from tests.support.stacks import delete_stack, unique, wait_deployment

GRACE = 1.5
SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo up > /w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
    constraints: {{servers: [{server}]}}
"""


@pytest.fixture
async def fast(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    """The app with a short server_down_grace."""
    app = create_app(config.replace(server_down_grace=GRACE))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        client.app[LISTENERS].http = HostPort("127.0.0.1", client.port or 0)
        yield client


async def push(client: TestClient[Any, Any], busybox: str, repo: str, tmp_path: Path) -> str:
    registry = f"127.0.0.1:{client.port}"
    cli = DockerCli(tmp_path / "docker-config")
    ref = f"{registry}/{repo}:v1"

    def run() -> None:  # in a thread: the loop must keep serving the registry
        cli.login(registry)
        cli("tag", busybox, ref)
        cli("push", ref, timeout=120)
        cli("rmi", ref, check=False)

    await asyncio.to_thread(run)
    return ref


async def web(client: TestClient[Any, Any], stack: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/containers?stack={stack}", headers=ADMIN)
    [item] = (await resp.json())["items"]
    assert isinstance(item, dict)
    return item


async def dns_text(client: TestClient[Any, Any]) -> str:
    return await (await client.get("/api/v1/dns/records", headers=ADMIN)).text()


async def until(what: str, check: Any, timeout: float = 30, every: float = 0.05) -> float:
    """Seconds until check() is true."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, f"not within {timeout}s: {what}"
        await asyncio.sleep(every)
    return time.monotonic() - start


async def test_kill_and_cut_off_on_a_server(fast: TestClient[Any, Any], hosts: list[Host],
                                            busybox_image: str, tmp_path: Path) -> None:
    client, host = fast, hosts[0]
    stack = unique("healh")
    await add_server(client, host)
    await wait_server(client, host.name, "up", registry_tunnel=client.port)
    image = await push(client, busybox_image, f"{stack}/web", tmp_path)
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": stack, "service_yml": SERVICE_YML.format(image=image, server=host.name)})
    assert resp.status == 201, await resp.text()
    try:
        resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
        done = await wait_deployment(client, (await resp.json())["id"], timeout=150)
        assert done["status"] == "succeeded", done
        first = await web(client, stack)
        assert first["server"] == host.name and first["state"] == "healthy"

        # docker kill on the server: the reconciler (over SSH) starts it again. Killed and
        # watched through the server's engine API directly (the CLI takes ~0.2 s a call).
        async with aiodocker.Docker(url=host.docker_url) as engine:
            container = engine.containers.container(first["id"])
            await container.kill()

            async def running() -> bool:
                return bool((await container.show())["State"]["Running"])

            repaired = await until("running again", running, every=0.01)

        async def healthy() -> bool:
            return bool((await web(client, stack))["state"] == "healthy")

        back = await until("healthy again", healthy, every=0.01) + repaired
        print(f"remote docker kill -> running {repaired:.2f}s, healthy {back:.2f}s")

        # Cut off: after the grace period it is unknown and out of DNS.
        address = (await web(client, stack))["address"]
        assert address in await dns_text(client)
        host.cut_off()

        async def unknown() -> bool:
            return ((await web(client, stack))["state"] == "unknown"
                    and address not in await dns_text(client))

        gone = await until("unknown and out of DNS", unknown, timeout=30)
        host.reconnect()
        await wait_server(client, host.name, "up", timeout=60)

        async def returned() -> bool:
            return ((await web(client, stack))["state"] == "healthy"
                    and address in await dns_text(client))

        again = await until("healthy and in DNS again", returned, timeout=60)
        print(f"cut off -> out of DNS {gone:.2f}s; server up -> back in DNS {again:.2f}s")
        kinds = {a["action"] for a in (await (await client.get(
            "/api/v1/reconciler/actions", headers=ADMIN)).json())["items"]}
        assert {"exited", "restarted", "unknown"} <= kinds
        assert (await web(client, stack))["id"] == first["id"]  # the same container throughout
    finally:
        host.reconnect()
        await delete_stack(client, stack, host.docker_url)
