"""The reconciler on the local engine: docker kill, docker rm, strays, crash loops."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import pytest
from aiohttp.test_utils import TestClient

from c66d.keys import STORE
from tests.support.http import ADMIN
from tests.support.stacks import delete_stack, unique, wait_deployment

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo up > /w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
  flaky:
    image: {image}
    command: sh -c 'if [ -f /ran ]; then echo crashing now; exit 3; fi; touch /ran; exec sleep 3600'
    stop_grace: 1s
"""


def docker(*args: str, check: bool = True) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {out.stderr}")
    return out.stdout.strip()


@pytest.fixture
async def stack(client: TestClient[Any, Any], busybox_image: str) -> AsyncIterator[str]:
    name = unique("heal")
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": name, "service_yml": SERVICE_YML.format(image=busybox_image)})
    assert resp.status == 201, await resp.text()
    resp = await client.post(f"/api/v1/stacks/{name}/deployments", headers=ADMIN)
    done = await wait_deployment(client, (await resp.json())["id"])
    assert done["status"] == "succeeded", done
    yield name
    await delete_stack(client, name)


async def containers(client: TestClient[Any, Any], stack: str,
                     service: str = "web") -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/containers?stack={stack}&service={service}",
                            headers=ADMIN)
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def actions(client: TestClient[Any, Any], stack: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/reconciler/actions?stack={stack}", headers=ADMIN)
    assert resp.status == 200, await resp.text()
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def until(check: Any, timeout: float = 30, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(every)
    raise AssertionError(f"not true within {timeout}s: {check.__doc__ or check}")


def running(name_or_id: str) -> bool:
    return docker("inspect", "-f", "{{.State.Running}}", name_or_id, check=False) == "true"


async def test_killed_container_runs_again_and_returns_to_dns(
        client: TestClient[Any, Any], stack: str, docker: aiodocker.Docker) -> None:
    [web] = await containers(client, stack)
    container = docker.containers.container(web["id"])
    await container.kill()  # as `docker kill`; timed from its answer
    killed = time.monotonic()

    async def up_again() -> bool:
        """the killed container runs again (inspected through the API: the CLI is slow)"""
        return bool((await container.show())["State"]["Running"])

    await until(up_again, every=0.01)
    repaired = time.monotonic() - killed

    async def healthy() -> list[dict[str, Any]]:
        """the API shows it healthy again"""
        items = await containers(client, stack)
        return [c for c in items if c["state"] == "healthy"]

    [back] = await until(healthy)
    healthy_after = time.monotonic() - killed
    assert back["id"] == web["id"] and back["restarts"] == 1
    kinds = [a["action"] for a in await actions(client, stack)]
    assert "exited" in kinds and "restarted" in kinds
    resp = await client.get("/api/v1/dns/records", headers=ADMIN)
    assert back["address"] in (await resp.text())
    print(f"docker kill -> running again {repaired:.2f}s, healthy {healthy_after:.2f}s")
    assert repaired < 5


async def test_container_removed_by_hand_is_recreated(
        client: TestClient[Any, Any], stack: str) -> None:
    [web] = await containers(client, stack)
    removed = time.monotonic()
    docker("rm", "-f", web["id"])

    async def recreated() -> list[dict[str, Any]]:
        """a new container of the same name is recorded and healthy"""
        items = await containers(client, stack)
        return [c for c in items if c["id"] != web["id"] and c["state"] == "healthy"]

    [new] = await until(recreated)
    print(f"docker rm -> healthy again {time.monotonic() - removed:.2f}s")
    assert new["name"] == web["name"] and running(new["id"])
    kinds = [a["action"] for a in await actions(client, stack)]
    assert "removed" in kinds and "recreated" in kinds
    # it keeps its ContainerNet address, and that address stays leased to it
    assert new["address"] == web["address"]
    await asyncio.sleep(0.2)  # the net listener has seen the removal by now
    leases = await client.app[STORE].net.leases("local")
    assert [(lease.holder, lease.address) for lease in leases
            if lease.holder == web["name"]] == [(web["name"], web["address"])]


async def test_stray_with_c66d_labels_is_removed_foreign_stack_left(
        client: TestClient[Any, Any], stack: str, busybox_image: str) -> None:
    other = unique("not-ours")
    labels = ["--label", "c66d.managed=true", "--label", "c66d.service=web",
              "--label", "c66d.deployment=42"]
    stray = docker("run", "-d", *labels, "--label", f"c66d.stack={stack}", busybox_image,
                   "sleep", "3600")
    foreign = docker("run", "-d", *labels, "--label", f"c66d.stack={other}", busybox_image,
                     "sleep", "3600")
    try:
        async def gone() -> bool:
            """the stray is removed"""
            return not await asyncio.to_thread(
                docker, "ps", "-aq", "--filter", f"id={stray}")

        await until(gone, timeout=20)
        removed = [a for a in await actions(client, stack) if a["action"] == "removed"]
        assert removed and removed[0]["message"] == "no deployment wants it"
        assert running(foreign)  # a stack this c66d does not know: another c66d's business
        assert len(await containers(client, stack)) == 1  # the wanted one still runs
    finally:
        docker("rm", "-f", stray, foreign, check=False)


async def test_crash_loop_backs_off_and_shows_its_last_lines(
        client: TestClient[Any, Any], stack: str) -> None:
    [flaky] = await containers(client, stack, "flaky")
    docker("kill", flaky["id"])  # from now on it exits at once on every start

    async def looping() -> list[dict[str, Any]]:
        """the container is shown in crashloop"""
        items = await containers(client, stack, "flaky")
        return [c for c in items if c["state"] == "crashloop"]

    [shown] = await until(looping, timeout=40)
    assert shown["restarts"] >= 3 and "crashing now" in shown["last_log"]
    restarts = [a for a in await actions(client, stack) if a["action"] == "restarted"]
    exits = sorted(a["at"] for a in await actions(client, stack) if a["action"] == "exited")
    gaps = [b - a for a, b in itertools.pairwise(exits)]
    assert len(restarts) >= 2 and gaps[-1] >= 1.5  # backing off: 0 s, then 1 s, then 2 s


async def test_container_recorded_without_a_create_config_is_rebuilt_from_its_deployment(
        client: TestClient[Any, Any], stack: str) -> None:
    """A container recorded before c66d saved create configs (no container_configs row) and
    then removed by hand comes back as its deployment describes it, not dropped."""
    [web] = await containers(client, stack)
    store = client.app[STORE]
    await store.db.execute("DELETE FROM container_configs WHERE name = ?", (web["name"],))
    assert await store.healing.config_of(web["name"]) is None
    shape = "{{json .Config.Cmd}} {{json .Config.Env}} {{json .Config.Labels}}"
    before = docker("inspect", "-f", shape, web["id"])
    docker("rm", "-f", web["id"])

    async def recreated() -> list[dict[str, Any]]:
        """a new container of the same name is recorded and healthy"""
        items = await containers(client, stack)
        return [c for c in items if c["id"] != web["id"] and c["state"] == "healthy"]

    [new] = await until(recreated)
    assert new["name"] == web["name"] and new["address"] == web["address"]
    assert docker("inspect", "-f", shape, new["id"]) == before
    kinds = [a["action"] for a in await actions(client, stack)]
    assert "rebuilt" in kinds and "recreated" in kinds and "lost" not in kinds
    assert await store.healing.config_of(web["name"]) is not None  # saved for next time
