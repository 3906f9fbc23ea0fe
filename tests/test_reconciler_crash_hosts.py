"""c66d killed (kill -9) during a rollout and during a scale that work on two SSH servers
(namespace hosts), then started again: the rollout is resumed, and every server runs exactly
the containers the store says it should, each healthy, nothing that served restarted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.support.hosts import Host
from tests.support.proc import C66dProcess
from tests.support.stacks import remove_stack_containers, unique
from tests.test_reconciler_crash import FINISHED, Api

SERVICE = """\
  {name}:
    image: {image}
    command: {command}
    stop_grace: 1s
    constraints: {{servers: [{servers}]}}
"""
WEB = "sh -c 'mkdir -p /w && echo \"$VERSION\" > /w/index.html && exec httpd -f -p 8000 -h /w'"
HEALTH = """\
    ports: ["8000"]
    env_vars: {VERSION: _env(VERSION)}
    health: {endpoint: /index.html, timeout: 20s}
"""


async def add_servers(api: Api, hosts: list[Host]) -> None:
    key = (await api.call("GET", "/api/v1/servers/key"))["public_key"]
    for host in hosts:
        host.authorize(key)
        await api.call("POST", "/api/v1/servers", json=host.server_spec())
    await servers_up(api, hosts)


async def servers_up(api: Api, hosts: list[Host], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = {h.name: (await api.call("GET", f"/api/v1/servers/{h.name}"))["state"]
                  for h in hosts}
        if all(s == "up" for s in states.values()):
            return
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.2)


def engine(host: Host, stack: str) -> dict[str, str]:
    """Full id -> state of every container with the stack's label on the host's engine."""
    out = host.docker("ps", "-a", "--no-trunc", "--filter", f"label=c66d.stack={stack}",
                      "--format", "{{.ID}} {{.State}}").stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def served(host: Host, container: str) -> str:
    return host.docker("exec", container, "wget", "-qO-",
                       "http://127.0.0.1:8000/index.html").stdout.strip()


def started_at(host: Host, container: str) -> str:
    return host.docker("inspect", "-f", "{{.State.StartedAt}}", container).stdout.strip()


async def settled(api: Api, hosts: list[Host], stack: str, counts: dict[str, int],
                  timeout: float = 60) -> list[dict[str, Any]]:
    """Wait until the store records `counts` healthy containers per service and every
    server's engine runs exactly the recorded ones (no stray, none missing)."""
    deadline = time.monotonic() + timeout
    while True:
        items = await api.containers(stack)
        engines = {h.name: await asyncio.to_thread(engine, h, stack) for h in hosts}
        per_service = {s: sum(c["service"] == s for c in items) for s in counts}
        ok = (per_service == counts and all(c["state"] == "healthy" for c in items)
              and all(set(engines[h.name]) == {c["id"] for c in items if c["server"] == h.name}
                      and set(engines[h.name].values()) <= {"running"} for h in hosts))
        if ok:
            return items
        assert time.monotonic() < deadline, (items, engines)
        await asyncio.sleep(0.3)


async def resumed(api: Api, interrupted: int) -> dict[str, Any]:
    """The interrupted deployment is closed and the one that resumes it succeeded."""
    closed = await api.call("GET", f"/api/v1/deployments/{interrupted}")
    assert closed["status"] == "failed"
    assert closed["reason"].startswith("c66d stopped during the rollout; resumed as"), closed
    number = int(closed["reason"].rsplit(" ", 1)[1])
    listing = await api.call("GET", f"/api/v1/stacks/{closed['stack']}/deployments")
    [again] = [d for d in listing["items"] if d["number"] == number]
    done = await api.deployment(again["id"], until=lambda d: d["status"] in FINISHED,
                                timeout=120)
    assert done["status"] == "succeeded", done
    return dict(done)


async def kill_at(c66d: C66dProcess, api: Api, hosts: list[Host], stack: str, pause_at: str,
                  request: Any) -> int:
    """Stop c66d (gracefully: every server keeps running what it ran), start it paused at
    `pause_at`, make the request, kill -9 once it pauses there, start c66d again; returns the
    id of the deployment that was interrupted."""
    running = [engine(h, stack) for h in hosts]
    assert c66d.stop() == 0
    assert [engine(h, stack) for h in hosts] == running
    c66d.env["C66DTEST_PAUSE_AT"] = pause_at
    c66d.start()
    api.url = c66d.url
    # Asked at once: the rollout waits for the links that are still connecting.
    deployment = int(await request())
    action = pause_at.split(":")[0]
    await api.deployment(deployment, until=lambda d: any(
        s["action"] == action and s["service"] == "web" for s in d["steps"]), timeout=120)
    c66d.kill()
    del c66d.env["C66DTEST_PAUSE_AT"]
    c66d.start()
    api.url = c66d.url
    return deployment


async def test_kill_9_mid_rollout_and_mid_scale_on_ssh_servers(
        c66d: C66dProcess, hosts: list[Host], busybox_image: str) -> None:
    stack = unique("crashh")
    servers = ", ".join(h.name for h in hosts)
    yml = "services:\n" + SERVICE.format(
        name="web", image=busybox_image, command=WEB, servers=servers) + HEALTH + SERVICE.format(
        name="worker", image=busybox_image, command="sleep 3600", servers=servers)
    for host in hosts:
        await asyncio.to_thread(host.load_image, busybox_image)
    c66d.env["C66D_SERVER_DOWN_GRACE"] = "1.5"
    c66d.start()
    async with aiohttp.ClientSession() as session:
        api = Api(session, c66d.url)
        try:
            await add_servers(api, hosts)
            await api.call("POST", "/api/v1/stacks", json={
                "name": stack, "service_yml": yml, "env": {"VERSION": "v1"}})
            for service in ("web", "worker"):
                await api.call("POST", f"/api/v1/stacks/{stack}/services/{service}/scale",
                               json={"count": 2})
            first = await api.call("POST", f"/api/v1/stacks/{stack}/deployments")
            done = await api.deployment(first["id"], until=lambda d: d["status"] in FINISHED,
                                        timeout=120)
            assert done["status"] == "succeeded", done
            before = await settled(api, hosts, stack, {"web": 2, "worker": 2})
            by_host = {h.name: h for h in hosts}
            workers = {c["id"]: started_at(by_host[c["server"]], c["id"])
                       for c in before if c["service"] == "worker"}

            async def new_version() -> int:
                await api.call("PUT", f"/api/v1/stacks/{stack}/env",
                               json={"variables": {"VERSION": "v2"}})
                body = await api.call("POST", f"/api/v1/stacks/{stack}/deployments")
                return int(body["id"])

            interrupted = await kill_at(c66d, api, hosts, stack, "start:web", new_version)
            await resumed(api, interrupted)
            after = await settled(api, hosts, stack, {"web": 2, "worker": 2})
            for c in after:
                if c["service"] == "web":
                    assert served(by_host[c["server"]], c["id"]) == "v2"

            async def scale_up() -> int:
                body = await api.call("POST", f"/api/v1/stacks/{stack}/services/web/scale",
                                      json={"count": 3})
                return int(body["deployment"])

            interrupted = await kill_at(c66d, api, hosts, stack, "healthy:web", scale_up)
            await resumed(api, interrupted)
            final = await settled(api, hosts, stack, {"web": 3, "worker": 2})
            assert {c["server"] for c in final if c["service"] == "web"} == set(by_host)
            # Workers never stopped by any of the three restarts: same containers, same start.
            now = {c["id"]: c for c in final if c["service"] == "worker"}
            assert set(now) == set(workers)
            for ident, started in workers.items():
                assert started_at(by_host[now[ident]["server"]], ident) == started
        finally:
            if c66d.proc is not None and c66d.proc.poll() is None:
                await api.call("DELETE", f"/api/v1/stacks/{stack}")
            for host in hosts:
                remove_stack_containers(stack, host.docker_url)
