"""Servers provisioned on a cloud through libcloud (its own Dummy driver: no real provider here).

The Dummy driver's third node answers at 127.0.0.3; a real sshd listening there (in front of
this machine's Docker engine) plays the booted node, so the flow runs to a server that is up.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from c66d.config import Config
from c66d.orchestrator.provisioner import PROVISIONER
from tests.support.gitrepo import GitSshServer, start_sshd
from tests.support.hosts import wait_server
from tests.support.http import ADMIN, ADMIN_PASSWORD
from tests.support.proc import C66dProcess

Client = TestClient[Any, Any]
DUMMY = {"driver": "dummy", "key": "account-key-that-stays-secret"}


@pytest.fixture
def config(config: Config) -> Config:
    """The 'cloud node' is this machine itself: no overlay onto it (its wireguard-go would be
    started in this machine's own namespace and outlive the test)."""
    return config.replace(net_overlay="none")


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



def test_cli_provisions_with_credentials_from_the_environment(
        c66d: C66dProcess, node_sshd: GitSshServer, docker_engine: str) -> None:
    c66d.env["C66D_NET_OVERLAY"] = "none"  # the node is this machine (see `config`)
    proc = c66d.start()
    env = {**os.environ, "C66D_URL": proc.url, "C66D_PASSWORD": ADMIN_PASSWORD,
           "C66D_CLOUD_KEY": DUMMY["key"]}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "c66d", "servers", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    node_sshd.authorize(cli("key").stdout)
    made = cli("provision", "cloud1", "--driver", "dummy", "--size", "1", "--image", "1",
               "--port", str(node_sshd.port))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("node 3 of cloud1 created on dummy")
    deadline = time.monotonic() + 60
    while "cloud1 up" not in " ".join(cli("list").stdout.split()):
        assert time.monotonic() < deadline, cli("provisions").stdout + proc.text()
        time.sleep(0.2)
    rows = [line.split() for line in cli("provisions").stdout.splitlines()]
    assert rows[1] == ["cloud1", "ready", "dummy", "3", "127.0.0.3"]
    refused = cli("provision", "cloud9", "--driver", "nosuchcloud", "--size", "1", "--image", "1")
    assert refused.returncode != 0 and "nosuchcloud" in refused.stderr
    assert proc.stop() == 0
    assert DUMMY["key"] not in proc.text()
