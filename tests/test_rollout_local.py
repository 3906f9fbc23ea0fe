"""Rollouts on the local engine: deploy, new version, failed health check, rollback, scale."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from c66d.keys import EVENTS, LISTENERS
from tests.support.http import ADMIN
from tests.support.stacks import delete_stack, unique, wait_deployment

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo "$VERSION" > /w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    env_vars: {{VERSION: _env(VERSION)}}
    health: {{endpoint: {endpoint}, timeout: {timeout}}}
    stop_grace: 2s
  worker:
    image: {image}
    command: sleep 3600
    stop_grace: 1s
"""


def service_yml(image: str, endpoint: str = "/index.html", timeout: str = "20s") -> str:
    return SERVICE_YML.format(image=image, endpoint=endpoint, timeout=timeout)


@pytest.fixture
async def stack(client: TestClient[Any, Any], busybox_image: str) -> AsyncIterator[str]:
    name = unique("roll")
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": name, "service_yml": service_yml(busybox_image),
        "env": {"VERSION": "v1"}})
    assert resp.status == 201, await resp.text()
    yield name
    await delete_stack(client, name)


async def deploy(client: TestClient[Any, Any], stack: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    assert resp.status == 202, await resp.text()
    return await wait_deployment(client, (await resp.json())["id"])


async def containers(client: TestClient[Any, Any], stack: str,
                     service: str = "web") -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/containers?stack={stack}&service={service}",
                            headers=ADMIN)
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def served(containers: list[dict[str, Any]]) -> set[str]:
    out = set()
    async with aiohttp.ClientSession() as session:
        for c in containers:
            async with session.get(f"http://{c['address']}:8000/index.html") as resp:
                out.add((await resp.text()).strip())
    return out


async def dig(client: TestClient[Any, Any], name: str) -> list[str]:
    """The real `dig`, run without blocking the loop that serves DNS."""
    where = client.app[LISTENERS].dns
    assert where is not None
    proc = await asyncio.create_subprocess_exec(
        "dig", "+short", "+time=2", "+tries=1", "-p", str(where.port), "@127.0.0.1", name, "A",
        stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return sorted(out.decode().split())


async def set_version(client: TestClient[Any, Any], stack: str, version: str) -> None:
    resp = await client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN,
                            json={"variables": {"VERSION": version}})
    assert resp.status == 200


async def test_deploy_update_fail_rollback_scale(client: TestClient[Any, Any], stack: str,
                                                 busybox_image: str) -> None:
    first = await deploy(client, stack)
    assert first["status"] == "succeeded", first
    worker = await containers(client, stack, "worker")
    assert [s["action"] for s in first["steps"]].count("healthy") == 2
    web = await containers(client, stack)
    assert len(web) == 1 and web[0]["state"] == "healthy"
    assert await served(web) == {"v1"}
    assert await dig(client, f"web.{stack}.c66.internal") == [web[0]["address"]]

    # A new version replaces the container; the old one is drained and removed.
    await set_version(client, stack, "v2")
    second = await deploy(client, stack)
    assert second["status"] == "succeeded", second
    web2 = await containers(client, stack)
    assert len(web2) == 1 and web2[0]["id"] != web[0]["id"]
    assert await served(web2) == {"v2"}
    assert await dig(client, f"web.{stack}.c66.internal") == [web2[0]["address"]]
    # The worker's spec did not change, so its container was left running.
    assert [c["id"] for c in await containers(client, stack, "worker")] == [worker[0]["id"]]
    actions = [(s["action"], s["service"]) for s in second["steps"]]
    assert ("stop", "web") in actions

    # A failing health check stops the rollout and leaves v2 serving.
    broken = service_yml(busybox_image, endpoint="/missing.html", timeout="3s")
    resp = await client.put(f"/api/v1/stacks/{stack}", headers=ADMIN,
                            json={"service_yml": broken})
    assert resp.status == 200
    await set_version(client, stack, "v3")
    failed = await deploy(client, stack)
    assert failed["status"] == "failed"
    assert "answered 404" in failed["reason"] and "not healthy" in failed["reason"]
    assert await served(await containers(client, stack)) == {"v2"}
    assert len(await containers(client, stack)) == 1

    # Roll back to the first deployment: its spec, images and the variables it ran with
    # (the snapshot keeps them sealed), whatever the stack's variables are now.
    resp = await client.post(f"/api/v1/stacks/{stack}/rollback", headers=ADMIN,
                             json={"deployment": first["number"]})
    assert resp.status == 202
    rolled = await wait_deployment(client, (await resp.json())["id"])
    assert rolled["status"] == "succeeded" and rolled["rollback_of"] == first["number"]
    assert await served(await containers(client, stack)) == {"v1"}
    got = await client.get(f"/api/v1/stacks/{stack}/env", headers=ADMIN)
    assert "v3" in await got.text()  # the stack's own variables are left as they are

    # Scale web to 3: two containers are added, the running one is kept.
    kept = (await containers(client, stack))[0]["id"]
    resp = await client.post(f"/api/v1/stacks/{stack}/services/web/scale", headers=ADMIN,
                             json={"count": 3})
    scaled = await wait_deployment(client, (await resp.json())["deployment"])
    assert scaled["status"] == "succeeded"
    now = await containers(client, stack)
    assert len(now) == 3 and kept in {c["id"] for c in now}
    assert await dig(client, f"web.{stack}.c66.internal") == sorted(c["address"] for c in now)

    log = await client.get(f"/api/v1/deployments/{scaled['id']}/log", headers=ADMIN)
    text = await log.text()
    assert "healthy" in text and "finish" in text


async def test_second_rollout_waits_its_turn(client: TestClient[Any, Any], stack: str) -> None:
    one = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    two = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    first = await wait_deployment(client, (await one.json())["id"])
    second = await wait_deployment(client, (await two.json())["id"])
    assert first["status"] == second["status"] == "succeeded"
    assert first["finished_at"] <= second["started_at"]  # never interleaved
    assert len(await containers(client, stack)) == 1


async def test_successful_build_deploys_a_stack_with_auto_deploy(
    client: TestClient[Any, Any], stack: str
) -> None:
    resp = await client.put(f"/api/v1/stacks/{stack}", headers=ADMIN,
                            json={"auto_deploy": True})
    assert resp.status == 200 and (await resp.json())["auto_deploy"] is True
    # What the build queue publishes when a build of this stack succeeds.
    client.app[EVENTS].publish("build.finished", build=7, stack=stack, service="web",
                               status="succeeded", auto_deploy=True)
    for _ in range(50):
        items = (await (await client.get(f"/api/v1/stacks/{stack}/deployments",
                                         headers=ADMIN)).json())["items"]
        if items:
            break
        await asyncio.sleep(0.1)
    assert len(items) == 1 and items[0]["actor"] == "build 7"
    assert (await wait_deployment(client, items[0]["id"]))["status"] == "succeeded"
