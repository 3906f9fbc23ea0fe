"""c66d killed (kill -9) in the middle of a rollout, then started again: the rollout is resumed,
nothing that served was stopped, and the engine runs exactly what the store records."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import aiohttp
import pytest

from tests.support.http import ADMIN
from tests.support.proc import C66dProcess
from tests.support.stacks import remove_stack_containers, unique

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo "$VERSION" > /w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    env_vars: {{VERSION: _env(VERSION)}}
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
  worker:
    image: {image}
    command: sleep 3600
    stop_grace: 1s
"""
FINISHED = ("succeeded", "failed", "cancelled")


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        async with self.session.request(method, self.url + path, headers=ADMIN, **kw) as resp:
            assert resp.status < 300, f"{method} {path}: {resp.status} {await resp.text()}"
            return await resp.json() if resp.status != 204 else None

    async def deployment(self, ident: int, *, until: Any, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            body = await self.call("GET", f"/api/v1/deployments/{ident}")
            if until(body):
                return body
            assert time.monotonic() < deadline, f"deployment {ident}: {body}"
            await asyncio.sleep(0.2)

    async def containers(self, stack: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.call(
            "GET", f"/api/v1/containers?stack={stack}"))["items"]
        return items


def engine_containers(stack: str) -> dict[str, str]:
    """id -> name of every container with the stack's label on the local engine."""
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=c66d.stack={stack}",
                          "--format", "{{.ID}} {{.Names}} {{.State}}"],
                         capture_output=True, text=True, timeout=30).stdout.split("\n")
    return {line.split()[0]: line.split()[1] for line in out if line.strip()}


def started_at(container: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container],
                          capture_output=True, text=True, timeout=30).stdout.strip()


@pytest.mark.parametrize("pause_at", ["start:web", "healthy:web"])
async def test_kill_9_mid_rollout_resumes_it(c66d: C66dProcess, busybox_image: str,
                                             pause_at: str) -> None:
    stack = unique("crash")
    c66d.start()
    async with aiohttp.ClientSession() as session:
        api = Api(session, c66d.url)
        await api.call("POST", "/api/v1/stacks", json={
            "name": stack, "service_yml": SERVICE_YML.format(image=busybox_image),
            "env": {"VERSION": "v1"}})
        try:
            first = await api.call("POST", f"/api/v1/stacks/{stack}/deployments")
            done = await api.deployment(first["id"], until=lambda d: d["status"] in FINISHED)
            assert done["status"] == "succeeded", done
            before = {c["service"]: c for c in await api.containers(stack)}
            worker_started = started_at(before["worker"]["id"])
            # A graceful stop leaves the server running exactly what it ran.
            assert c66d.stop() == 0
            assert set(engine_containers(stack)) == {c["id"][:12] for c in before.values()}

            c66d.env["C66DTEST_PAUSE_AT"] = pause_at
            c66d.start()
            api.url = c66d.url
            await api.call("PUT", f"/api/v1/stacks/{stack}/env",
                           json={"variables": {"VERSION": "v2"}})
            second = await api.call("POST", f"/api/v1/stacks/{stack}/deployments")
            action = pause_at.split(":")[0]
            await api.deployment(second["id"], until=lambda d: any(
                s["action"] == action and s["service"] == "web" for s in d["steps"]))
            c66d.kill()  # kill -9 while the rollout waits at that step

            del c66d.env["C66DTEST_PAUSE_AT"]
            c66d.start()
            api.url = c66d.url
            closed = await api.call("GET", f"/api/v1/deployments/{second['id']}")
            assert closed["status"] == "failed"
            assert closed["reason"].startswith("c66d stopped during the rollout; resumed as")
            number = int(closed["reason"].rsplit(" ", 1)[1])
            listing = await api.call("GET", f"/api/v1/stacks/{stack}/deployments")
            [resumed] = [d for d in listing["items"] if d["number"] == number]
            done = await api.deployment(resumed["id"], until=lambda d: d["status"] in FINISHED)
            assert done["status"] == "succeeded", done

            async def settled() -> list[dict[str, Any]]:
                items = await api.containers(stack)
                engine = engine_containers(stack)
                ok = (len(items) == 2 and all(c["state"] == "healthy" for c in items)
                      and set(engine) == {c["id"][:12] for c in items})
                return items if ok else []

            deadline = time.monotonic() + 30
            while not (now := await settled()):
                assert time.monotonic() < deadline, (await api.containers(stack),
                                                     engine_containers(stack))
                await asyncio.sleep(0.2)
            web = next(c for c in now if c["service"] == "web")
            async with session.get(f"http://{web['address']}:8000/index.html") as resp:
                assert (await resp.text()).strip() == "v2"
            worker = next(c for c in now if c["service"] == "worker")
            # Never stopped because c66d restarted (twice): same container, same start.
            assert worker["id"] == before["worker"]["id"]
            assert started_at(worker["id"]) == worker_started
        finally:
            if c66d.proc is not None and c66d.proc.poll() is None:
                await api.call("DELETE", f"/api/v1/stacks/{stack}")
            remove_stack_containers(stack)
