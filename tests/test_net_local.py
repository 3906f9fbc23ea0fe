"""ContainerNet on the local engine: containers get addresses of the server's subnet, c66d's
DNS as resolver and `<stack>.<zone>` as search domain; removed containers give addresses back."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shlex
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.http import ADMIN
from tests.support.stacks import remove_stack_containers, unique, wait_deployment

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir /w && echo hello-from-web >/w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
  client:
    image: {image}
    command: sleep 3600
    stop_grace: 1s
"""

# static busybox's libc resolver (getaddrinfo, also behind wget) crashes in a FROM scratch
# image: the name goes through nslookup (the resolver of resolv.conf), HTTP through nc
FETCH_BY_NAME = ('a=$(nslookup "$1" | sed -n "s/^Address: //p" | tail -n 1); '
                 'printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc -w 5 "$a" 8000 | tail -n 1')


@pytest.fixture
async def stack(client: TestClient[Any, Any], busybox_image: str) -> AsyncIterator[str]:
    name = unique("net")
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": name, "service_yml": SERVICE_YML.format(image=busybox_image)})
    assert resp.status == 201, await resp.text()
    yield name
    remove_stack_containers(name)


async def deploy(client: TestClient[Any, Any], stack: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    assert resp.status == 202, await resp.text()
    return await wait_deployment(client, (await resp.json())["id"])


async def containers(client: TestClient[Any, Any], stack: str) -> dict[str, dict[str, Any]]:
    resp = await client.get(f"/api/v1/containers?stack={stack}", headers=ADMIN)
    return {c["service"]: c for c in (await resp.json())["items"]}


async def exec_in(container: str, *argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "docker", "exec", container, *argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def test_containers_get_subnet_addresses_and_find_each_other_by_service_name(
        client: TestClient[Any, Any], stack: str) -> None:
    done = await deploy(client, stack)
    assert done["status"] == "succeeded", done
    net = await (await client.get("/api/v1/net", headers=ADMIN)).json()
    local = next(s for s in net["subnets"] if s["server"] == "local")
    subnet = ipaddress.ip_network(local["subnet"])
    assert subnet.subnet_of(ipaddress.ip_network(net["cluster_range"]))  # type: ignore[arg-type]
    running = await containers(client, stack)
    web, other = running["web"], running["client"]
    for c in (web, other):
        assert ipaddress.ip_address(c["address"]) in subnet
    assert {a["address"] for a in local["addresses"]} >= {web["address"], other["address"]}
    assert net["dns"] == net["control_address"]

    # inside the stack, `web` resolves through c66d's DNS (search domain <stack>.<zone>)
    code, out = await exec_in(other["name"], "cat", "/etc/resolv.conf")
    assert f"search {stack}.c66.internal" in out
    code, out = await exec_in(other["name"], "nslookup", "web")
    assert code == 0 and f"Address: {web['address']}" in out, out
    code, out = await exec_in(other["name"], "sh", "-c", FETCH_BY_NAME, "sh", "web")
    assert (code, out.strip()) == (0, "hello-from-web"), out

    # removing the stack's containers gives their addresses back
    resp = await client.post(f"/api/v1/stacks/{stack}/services/web/scale", headers=ADMIN,
                             json={"count": 0})
    assert resp.status in (200, 202), await resp.text()
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        net = await (await client.get("/api/v1/net", headers=ADMIN)).json()
        local = next(s for s in net["subnets"] if s["server"] == "local")
        held = {a["address"] for a in local["addresses"]}
        if web["address"] not in held:
            break
        assert asyncio.get_running_loop().time() < deadline, held
        await asyncio.sleep(0.3)
    assert other["address"] in held


async def test_deploy_command_runs_on_containernet_and_reaches_the_stack_by_name(
        client: TestClient[Any, Any], busybox_image: str) -> None:
    """A service's deploy_command (e.g. migrations) runs in a one-off container with an
    address of the subnet and c66d's DNS: it reaches services started before it by name."""
    check = ('ip -4 addr show eth0 | grep -q "inet 10\\." && ' + FETCH_BY_NAME.replace(
        '"$1"', "web") + " | grep -q hello-from-web")
    yml = SERVICE_YML.format(image=busybox_image) + (
        "    requires: [web]\n"
        f"    deploy_command: {json.dumps('sh -c ' + shlex.quote(check))}\n")
    name = unique("once")
    resp = await client.post("/api/v1/stacks", headers=ADMIN,
                             json={"name": name, "service_yml": yml})
    assert resp.status == 201, await resp.text()
    try:
        done = await deploy(client, name)
        assert done["status"] == "succeeded", done
        assert [s["service"] for s in done["steps"] if s["action"] == "deploy_command"] == [
            "client"]
        net = await (await client.get("/api/v1/net", headers=ADMIN)).json()
        held = [a["container"] for s in net["subnets"] for a in s["addresses"]
                if a["stack"] == name]
        assert sorted(held) == sorted(c["name"] for c in (await containers(client, name))
                                      .values())  # the one-off's address was given back
    finally:
        await client.delete(f"/api/v1/stacks/{name}", headers=ADMIN)
        remove_stack_containers(name)
