"""Servers keep the last `images_kept` images per service after a successful rollout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from c66d.config import Config, HostPort
from c66d.keys import LISTENERS
from c66d.orchestrator.prune import stale_images
from c66d.orchestrator.routes_deploy import DEPLOYER
from c66d.store import Deployment
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.registry import DockerCli
from tests.support.stacks import remove_stack_containers, unique, wait_deployment

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sleep 3600
    stop_grace: 1s
    constraints: {{servers: [{server}]}}
"""


@pytest.fixture
def config(config: Config) -> Config:
    return config.replace(images_kept=2)


def deployment(number: int, status: str, image: str) -> Deployment:
    return Deployment(number, "s", number, status, "", {"images": {"web": image, "db": "x"}},
                      None, "", 0.0, None, None)


def test_stale_images_are_the_older_distinct_ones_from_the_registry() -> None:
    r = "127.0.0.1:8066"
    history = [deployment(5, "succeeded", f"{r}/s/web:v4"),
               deployment(4, "failed", f"{r}/s/web:v9"),
               deployment(3, "succeeded", f"{r}/s/web:v3"),
               deployment(2, "succeeded", f"{r}/s/web:v4"),
               deployment(1, "succeeded", f"{r}/s/web:v1"),
               deployment(0, "succeeded", "other/web:v0")]
    assert stale_images(history, 2, r) == {"web": [f"{r}/s/web:v1"]}
    assert stale_images(history, 5, r) == {}


async def test_a_server_keeps_the_last_two_images_of_a_service(
        client: TestClient[Any, Any], hosts: list[Host], busybox_image: str,
        tmp_path: Path) -> None:
    host = hosts[0]
    client.app[LISTENERS].http = HostPort("127.0.0.1", client.port)  # servers pull from here
    registry = f"127.0.0.1:{client.port}"
    await add_server(client, host)
    await wait_server(client, host.name, "up", registry_tunnel=client.port)
    stack = unique("keep")
    cli = DockerCli(tmp_path / "docker-config")
    refs = [f"{registry}/{stack}/web:v{n}" for n in (1, 2, 3)]

    def build_and_push() -> None:  # three different images, pushed into c66d's registry
        cli.login(registry)
        for n, ref in enumerate(refs, 1):
            context = tmp_path / f"v{n}"
            context.mkdir()
            (context / "Dockerfile").write_text(
                f"FROM {busybox_image}\nRUN echo v{n} > /version\n")
            cli("build", "-q", "-t", ref, str(context))
            cli("push", ref)
            cli("rmi", ref)

    await asyncio.to_thread(build_and_push)

    def present() -> list[bool]:
        return [host.docker("image", "inspect", ref, check=False).returncode == 0
                for ref in refs]

    try:
        for n, ref in enumerate(refs):
            yml = SERVICE_YML.format(image=ref, server=host.name)
            if n == 0:
                resp = await client.post("/api/v1/stacks", headers=ADMIN,
                                         json={"name": stack, "service_yml": yml})
            else:
                resp = await client.put(f"/api/v1/stacks/{stack}", headers=ADMIN,
                                        json={"service_yml": yml})
            assert resp.status in (200, 201), await resp.text()
            resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
            done = await wait_deployment(client, (await resp.json())["id"], timeout=120)
            assert done["status"] == "succeeded", done["reason"]
            await client.app[DEPLOYER].wait_idle()  # pruning follows the rollout
        # v1 fell out of the last two; v2 stays for a rollback, v3 runs.
        assert present() == [False, True, True]
        resp = await client.get(f"/api/v1/deployments/{done['id']}", headers=ADMIN)
        steps = [s for s in (await resp.json())["steps"] if s["action"] == "prune"]
        assert steps and refs[0] in steps[0]["message"]
    finally:
        remove_stack_containers(stack, host.docker_url)
