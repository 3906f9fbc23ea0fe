"""From git to two servers: a web service built by BuildGrid from a test repository (a busybox
httpd serving the commit's version.txt) and a worker, deployed to two namespace servers behind
their nginx; a new commit is built and rolled out while a bounded load hits both servers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from aiohttp.test_utils import TestClient

from c66d.config import HostPort
from c66d.keys import LISTENERS
from tests.support.gitrepo import GitRepo, finished, make_repo, start_build
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.stacks import delete_stack, unique
from tests.test_rollout_hosts import Lab, deploy, load_loop, scale, through_nginx

SERVICE_YML = """\
services:
  web:
    git_url: {git_url}
    git_branch: main
    command: httpd -f -p 8000 -h /w
    ports: ["8000:80"]
    traffic_matches: [{site}]
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 2s
    constraints: {{servers: [{servers}]}}
  worker:
    image: {image}
    command: sleep 3600
    stop_grace: 1s
    constraints: {{servers: [{servers}]}}
"""
SERVE_VERSION = "COPY version.txt /w/index.html\n"


@pytest.fixture
async def git_lab(client: TestClient[Any, Any], hosts: list[Host], busybox_image: str,
                  tmp_path: Path) -> AsyncIterator[tuple[Lab, GitRepo]]:
    client.app[LISTENERS].http = HostPort("127.0.0.1", client.port)  # builds push, hosts pull
    for host in hosts:
        await asyncio.to_thread(host.load_image, busybox_image)  # the worker's `image:`
        await add_server(client, host)
    for host in hosts:
        await wait_server(client, host.name, "up", registry_tunnel=client.port)
    repo = make_repo(tmp_path / "web", dockerfile_extra=SERVE_VERSION)
    stack = unique("git")
    lab = Lab(client, hosts, stack, "", site=f"{stack}.example", names=[h.name for h in hosts])
    yml = SERVICE_YML.format(git_url=repo.url, site=lab.site, image=busybox_image,
                             servers=", ".join(lab.names))
    resp = await client.post("/api/v1/stacks", headers=ADMIN,
                             json={"name": stack, "service_yml": yml})
    assert resp.status == 201, await resp.text()
    yield lab, repo
    for host in hosts:
        await delete_stack(client, stack, host.docker_url)
    await _remove_built_images(client.port)


async def _remove_built_images(port: int) -> None:
    docker = aiodocker.Docker()
    try:
        for image in await docker.images.list():
            for tag in image.get("RepoTags") or []:
                if tag.startswith(f"127.0.0.1:{port}/"):
                    await docker.images.delete(tag, force=True)
    finally:
        await docker.close()


async def _build(lab: Lab, ref: str) -> dict[str, Any]:
    build = await finished(lab.client, await start_build(lab.client, ref, stack=lab.stack))
    assert build["status"] == "succeeded", build["reason"]
    return build


async def test_commits_built_and_rolled_out_to_two_servers_under_load(
        git_lab: tuple[Lab, GitRepo]) -> None:
    lab, repo = git_lab
    client = lab.client
    first = await _build(lab, repo.head())
    done = await deploy(client, lab.stack)
    assert done["status"] == "succeeded", (done["reason"], done["steps"])
    assert done["images"]["web"].endswith(f"/{lab.stack}/web@{first['digest']}")
    pulled = {s["server"] for s in done["steps"] if s["action"] == "pull"}
    scaled = await scale(client, lab.stack, 2)  # one web container on each server
    assert scaled["status"] == "succeeded", scaled
    pulled |= {s["server"] for s in scaled["steps"] if s["action"] == "pull"}
    assert pulled == set(lab.names)  # each pulled the build from c66d through its tunnel
    assert await through_nginx(lab) == {n: Counter({"1": 6}) for n in lab.names}

    repo.write("version.txt", "2\n")
    second = await _build(lab, repo.commit("Second version"))
    assert second["digest"] != first["digest"]
    stop = asyncio.Event()
    load = asyncio.create_task(load_loop(lab, stop))
    try:
        await asyncio.sleep(1)  # the load runs before the rollout starts
        rolled = await deploy(client, lab.stack)
        await asyncio.sleep(1)  # and after it ended
    finally:
        stop.set()
        result = await load
    assert rolled["status"] == "succeeded", (rolled["reason"], rolled["steps"])
    assert result.failures == [], result.failures[:10]
    assert result.ok["1"] > 0 and result.ok["2"] > 0, result.ok
    assert set(result.ok) == {"1", "2"}
    assert await through_nginx(lab) == {n: Counter({"2": 6}) for n in lab.names}
