"""Orchestration engine: servers, their Docker engines, rollouts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web

from c66d.auth.registry import INTERNAL_PULLER, internal_pull_token
from c66d.dns import DNS_SOURCE, DNS_TABLE
from c66d.dns import ContainerRecord as DnsContainer
from c66d.errors import Unavailable
from c66d.keys import CONFIG, DATA_DIR, EVENTS, LISTENERS, STATUS_PROBES, STORE
from c66d.net.keys import NET
from c66d.orchestrator import (
    healing,
    routes_containers,
    routes_deploy,
    routes_provision,
    routes_servers,
    routes_stacks,
)
from c66d.orchestrator.deployments import Deployer, deploy_after_builds
from c66d.orchestrator.dnsfeed import follow_databases, healthy_containers
from c66d.orchestrator.engines import Engines
from c66d.orchestrator.lbapply import BALANCER, Balancer
from c66d.orchestrator.reach import Reach
from c66d.orchestrator.routes_deploy import DEPLOYER
from c66d.orchestrator.servers import SERVERS, Servers
from c66d.orchestrator.ssh import Result, load_or_create_client_key

ENGINES = web.AppKey("engines", Engines)


async def check_local(app: web.Application) -> dict[str, Any]:
    """Ask the local engine for its version and record the server's state."""
    store, engines = app[STORE], app[ENGINES]
    previous = (await store.servers.get("local")).state
    try:
        version = await engines.version("local")
    except Unavailable as exc:
        await store.servers.set_state("local", "down", reason=exc.message)
        if previous != "down":
            app[EVENTS].publish("server.down", server="local", reason=exc.message)
        return {"state": "degraded", "reason": exc.message}
    await store.servers.set_state("local", "up", docker_version=version)
    if previous != "up":
        app[EVENTS].publish("server.up", server="local", docker_version=version)
    return {"state": "ok"}


async def _engines_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    if await store.servers.find("local") is None:
        await store.servers.add("local", kind="local", address="127.0.0.1",
                                roles=["builder", "app"])
    engines = Engines(app[CONFIG].docker_url)
    app[ENGINES] = engines
    await check_local(app)
    servers = await _make_servers(app, engines)
    app[SERVERS] = servers
    await servers.start()
    yield
    await servers.close()
    await engines.close()


async def _make_servers(app: web.Application, engines: Engines) -> Servers:
    instance = await app[STORE].meta.get("instance_id") or "c66d"
    key = await asyncio.to_thread(load_or_create_client_key, app[DATA_DIR].keys,
                                  f"c66d@{instance}")

    def registry_port() -> int | None:
        http = app[LISTENERS].http
        return http.port if http is not None and http.port else None

    return Servers(app[STORE], app[EVENTS], engines, key, app[DATA_DIR].root,
                   app[CONFIG].server_down_grace, registry_port)


async def servers_probe(app: web.Application) -> dict[str, Any]:
    """c66d's SSH public key and how many servers are up."""
    servers = await app[STORE].servers.all()
    down = [s.name for s in servers if s.state != "up"]
    result: dict[str, Any] = {"state": "degraded" if down else "ok",
                              "up": len(servers) - len(down), "down": down}
    if SERVERS in app:
        result["public_key"] = app[SERVERS].public_key
    return result


async def _deployer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Rollouts: reach servers through the engines; unfinished ones from before are closed."""
    def registry_port() -> int:  # port 0 is resolved once the HTTP listener is bound
        http = app[LISTENERS].http
        return http.port if http is not None else 0

    reach = Reach(app[ENGINES], registry_port)
    reach.remote_dial = app[SERVERS].dial  # containers on SSH servers: tunnelled TCP
    reach.net = app.get(NET)  # ContainerNet addresses (c66d/net)

    def pull_auth() -> dict[str, str]:  # a short-lived pull-only token per rollout
        return {"username": INTERNAL_PULLER, "password": internal_pull_token(app),
                "serveraddress": reach.registry}

    servers = app[SERVERS]

    async def run(server: str, argv: Sequence[str], stdin: str) -> Result:
        return await servers.run(server, argv, input=stdin, check=False)

    app[BALANCER] = balancer = Balancer(app[STORE], run)
    deployer = Deployer(app[STORE], app[EVENTS], reach, pull_auth, dns_table=app[DNS_TABLE],
                        balancer=balancer, images_kept=app[CONFIG].images_kept)
    app[DEPLOYER] = deployer
    await deployer.recover()
    auto = asyncio.create_task(deploy_after_builds(app[EVENTS], deployer), name="auto-deploy")
    databases = asyncio.create_task(follow_databases(app[EVENTS], app[STORE], app[DNS_TABLE]),
                                    name="dns-databases")
    yield
    for task in (auto, databases):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await deployer.close()


def setup(app: web.Application) -> None:
    async def dns_source() -> list[DnsContainer]:
        return await healthy_containers(app[STORE], app[DNS_TABLE])

    app[DNS_SOURCE] = dns_source
    app.cleanup_ctx.append(_engines_ctx)
    app.cleanup_ctx.append(_deployer_ctx)
    healing.setup(app)  # reconcilers: after the deployer recovered unfinished rollouts
    routes_stacks.setup(app)
    routes_deploy.setup(app)
    routes_containers.setup(app)
    routes_servers.setup(app)
    routes_provision.setup(app)

    async def probe() -> dict[str, Any]:
        return await check_local(app)

    app[STATUS_PROBES]["orchestrator"] = probe

    async def probe_servers() -> dict[str, Any]:
        return await servers_probe(app)

    app[STATUS_PROBES]["servers"] = probe_servers
