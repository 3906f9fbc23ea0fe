"""Servers provisioned on a cloud through libcloud (its own Dummy driver: no real provider here).

The Dummy driver's third node answers at 127.0.0.3; a real sshd listening there (in front of
this machine's Docker engine) plays the booted node, so the flow runs to a server that is up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from c66d.orchestrator.provisioner import PROVISIONER
from tests.support.gitrepo import GitSshServer, start_sshd
from tests.support.hosts import wait_server
from tests.support.http import ADMIN

Client = TestClient[Any, Any]
DUMMY = {"driver": "dummy", "key": "account-key-that-stays-secret"}


@pytest.fixture
def node_sshd(tmp_path: Path) -> Iterator[GitSshServer]:
    sshd = start_sshd(tmp_path / "node-sshd", address="127.0.0.3")
    yield sshd
    sshd.stop()


async def test_bad_requests_list_every_problem(client: Client) -> None:
    resp = await client.post("/api/v1/provisions", headers=ADMIN, json={
        "name": "Web_1", "provider": {"driver": "nosuchcloud"}, "size": "", "colour": "red"})
    assert resp.status == 400
    keys = {e["key"] for e in (await resp.json())["error"]["detail"]["errors"]}
    assert keys == {"name", "provider.driver", "provider.key", "size", "image", "colour"}
    resp = await client.post("/api/v1/provisions", headers=ADMIN, json={
        "name": "web1", "provider": DUMMY, "size": "huge", "image": "1"})
    assert resp.status == 400
    message = (await resp.json())["error"]["message"]
    assert "no size 'huge'" in message and "1 (Small)" in message
    listed = await (await client.get("/api/v1/provisions", headers=ADMIN)).json()
    assert listed["items"] == []


async def test_only_admins_provision(client: Client) -> None:
    resp = await client.post("/api/v1/provisions", json={"name": "web1"})
    assert resp.status == 401


async def test_a_node_becomes_a_server_and_is_destroyed_with_it(
        client: Client, node_sshd: GitSshServer, docker_engine: str) -> None:
    key = await (await client.get("/api/v1/servers/key", headers=ADMIN)).json()
    node_sshd.authorize(key["public_key"])
    resp = await client.post("/api/v1/provisions", headers=ADMIN, json={
        "name": "cloud1", "provider": DUMMY, "size": "Small", "image": "1",
        "port": node_sshd.port, "roles": ["app"]})
    assert resp.status == 202, await resp.text()
    created = await resp.json()
    assert (created["state"], created["node_id"], created["driver"]) == ("booting", "3", "dummy")
    assert "key" not in str(created["spec"]) and DUMMY["key"] not in await resp.text()

    up = await wait_server(client, "cloud1", "up", timeout=60)
    assert (up["address"], up["port"], up["docker_version"]) == (
        "127.0.0.3", node_sshd.port, docker_engine)
    listed = await (await client.get("/api/v1/provisions", headers=ADMIN)).json()
    assert [(r["server"], r["state"], r["address"]) for r in listed["items"]] == [
        ("cloud1", "ready", "127.0.0.3")]

    driver = client.app[PROVISIONER].driver("dummy", {"key": DUMMY["key"]})
    assert "3" in [str(n.id) for n in driver.list_nodes()]
    assert (await client.delete("/api/v1/servers/cloud1", headers=ADMIN)).status == 204
    deadline = time.monotonic() + 10
    while "3" in [str(n.id) for n in driver.list_nodes()]:
        assert time.monotonic() < deadline, "the node outlived its server"
        await asyncio.sleep(0.05)
    listed = await (await client.get("/api/v1/provisions", headers=ADMIN)).json()
    assert listed["items"] == []

