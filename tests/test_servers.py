"""Servers over SSH, end to end: real sshd + dockerd in network namespaces, driven by c66d."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application

from c66d.app import create_app
from c66d.config import Config, HostPort
from c66d.errors import NotFound, Unavailable
from c66d.keys import EVENTS, Listeners
from c66d.orchestrator import ENGINES
from c66d.orchestrator.servers import SERVERS
from c66d.orchestrator.ssh import RemoteCommandFailed
from tests.support.hosts import Host, add_server, free_port, wait_server
from tests.support.http import ADMIN
from tests.support.registry import CREDS, PASSWORD, skopeo

GRACE = 1.5

Client = TestClient[Any, Any]


@pytest.fixture
async def app_client(config: Config) -> AsyncIterator[Client]:
    """c66d in-process on a known port (servers' registry tunnels point at it), short grace."""
    port = free_port()
    app = create_app(config.replace(server_down_grace=GRACE),
                     Listeners(http=HostPort("127.0.0.1", port)))
    async with TestClient(TestServer(app, host="127.0.0.1", port=port)) as client:
        yield client


def _app(client: Client) -> Application:
    return client.server.app  # type: ignore[no-any-return]


async def test_added_servers_come_up_and_their_engines_work_like_the_local_one(
        app_client: Client, hosts: list[Host], busybox_image: str) -> None:
    events = _app(app_client)[EVENTS].subscribe(["server."])
    for host in hosts:
        added = await add_server(app_client, host)
        assert added["state"] in {"unknown", "up"}
    for host in hosts:
        up = await wait_server(app_client, host.name, "up")
        assert up["docker_version"] and up["last_seen"]
        assert up["host_key"] == host.host_key_fingerprint()
    kinds = []
    while not events.queue.empty():
        event = events.queue.get_nowait()
        kinds.append((event.kind, event.data["server"]))
    for host in hosts:
        assert ("server.added", host.name) in kinds and ("server.up", host.name) in kinds

    # The remote engine through Engines.client, exactly like the local one.
    first = hosts[0]
    first.load_image(busybox_image)
    docker = _app(app_client)[ENGINES].client(first.name)
    container = await docker.containers.run(
        {"Image": busybox_image, "Cmd": ["sh", "-c", "echo hello from $(hostname); sleep 30"],
         "Labels": {"c66d.test": "1"}}, name="c66d-test-remote")
    names = [c["Names"][0] for c in await docker.containers.list()]
    assert "/c66d-test-remote" in names
    assert "c66d-test-remote" in first.docker("ps", "--format", "{{.Names}}").stdout
    assert "c66d-test-remote" not in hosts[1].docker("ps", "--format", "{{.Names}}").stdout
    await container.delete(force=True)

    listed = await (await app_client.get("/api/v1/servers", headers=ADMIN)).json()
    assert {s["name"] for s in listed["items"]} >= {"local", *(h.name for h in hosts)}
    status = await (await app_client.get("/api/v1/status")).json()
    assert {s["name"]: s["state"] for s in status["servers"]}[first.name] == "up"


async def test_exec_builds_argv_as_data_and_failures_carry_status_and_stderr(
        app_client: Client, hosts: list[Host]) -> None:
    host = hosts[0]
    await add_server(app_client, host)
    await wait_server(app_client, host.name, "up")
    servers = _app(app_client)[SERVERS]
    tricky = "it's $HOME; `x` && echo injected"
    result = await servers.run(host.name, ["printf", "%s|", tricky, "two words"])
    assert result.stdout == f"{tricky}|two words|"
    with pytest.raises(RemoteCommandFailed) as failed:
        await servers.run(host.name, ["ls", "/no/such/path"])
    assert failed.value.argv == ("ls", "/no/such/path")
    assert failed.value.exit_status == 2
    assert "No such file" in failed.value.stderr
    # The host's own docker CLI answers over SSH (its DOCKER_HOST), e.g. for host-level checks.
    version = await servers.run(host.name, ["docker", "version", "--format", "{{.Server.Os}}"])
    assert version.stdout.strip() == "linux"


async def test_registry_port_is_reachable_on_the_servers_loopback(
        app_client: Client, hosts: list[Host]) -> None:
    host = hosts[0]
    await add_server(app_client, host)
    up = await wait_server(app_client, host.name, "up")
    port = app_client.server.port
    assert up["registry_tunnel"] == port
    # (in a thread: the in-process c66d must keep serving while wget waits)
    seen = await asyncio.to_thread(
        host.run, "busybox", "wget", "-qO-", f"http://127.0.0.1:{port}/api/v1/status",
        timeout=20)
    assert '"servers"' in seen.stdout


async def test_a_server_pulls_from_the_built_in_registry_through_its_loopback(
        app_client: Client, hosts: list[Host], busybox_image: str) -> None:
    host = hosts[1]
    await add_server(app_client, host)
    await wait_server(app_client, host.name, "up")
    port = app_client.server.port
    ref = f"127.0.0.1:{port}/servertest/busybox:v1"
    # Push from this machine into the in-process registry (in a thread: it must keep serving).
    await asyncio.to_thread(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds", CREDS,
                            f"docker-daemon:{busybox_image}", f"docker://{ref}")
    assert host.docker("image", "inspect", ref, check=False).returncode != 0
    docker = _app(app_client)[ENGINES].client(host.name)
    await docker.images.pull(ref, auth={"username": "admin", "password": PASSWORD,
                                        "serveraddress": f"127.0.0.1:{port}"})
    assert host.docker("image", "inspect", ref, check=False).returncode == 0
    assert hosts[0].docker("image", "inspect", ref, check=False).returncode != 0
    host.docker("rmi", ref)


async def test_changed_host_key_is_refused_until_an_admin_accepts_it(
        app_client: Client, hosts: list[Host]) -> None:
    host = hosts[1]
    await add_server(app_client, host)
    first = await wait_server(app_client, host.name, "up")
    old = first["host_key"]
    new = host.regenerate_host_key()

    refused = await wait_server(app_client, host.name, "down", timeout=20, pending_host_key=new)
    assert refused["reason"].startswith(f"host key changed: expected {old}, got {new}")
    assert f"/api/v1/servers/{host.name}/accept-key" in refused["reason"]
    assert refused["host_key"] == old and not refused["connected"]
    with pytest.raises(Unavailable, match="not connected"):
        _app(app_client)[ENGINES].client(host.name)

    resp = await app_client.post(f"/api/v1/servers/{host.name}/accept-key")
    assert resp.status == 401  # only an admin may accept
    resp = await app_client.post(f"/api/v1/servers/{host.name}/accept-key", headers=ADMIN)
    assert resp.status == 200, await resp.text()
    back = await wait_server(app_client, host.name, "up", timeout=10)
    assert back["host_key"] == new and back["pending_host_key"] == ""
    resp = await app_client.post(f"/api/v1/servers/{host.name}/accept-key", headers=ADMIN)
    assert resp.status == 409


@pytest.mark.parametrize("how", ["link", "sshd"])
async def test_server_cut_off_is_marked_down_after_the_grace_and_comes_back(
        app_client: Client, hosts: list[Host], how: str) -> None:
    host = hosts[0]
    await add_server(app_client, host)
    await wait_server(app_client, host.name, "up")
    events = _app(app_client)[EVENTS].subscribe(["server."])
    cut = time.monotonic()
    if how == "link":
        host.cut_off()
    else:
        host.stop_sshd()
    down = await wait_server(app_client, host.name, "down", timeout=GRACE + 15)
    noticed = time.monotonic() - cut
    # Not before the grace (less the heartbeat interval since the last answer), soon after it.
    assert GRACE - 0.6 <= noticed <= GRACE + 3, noticed
    assert down["reason"].startswith("no answer for")
    downs = [e for e in _drain(events) if e.kind == "server.down"]
    assert [e.data["server"] for e in downs] == [host.name]

    if how == "link":
        host.reconnect()
    else:
        host.start_sshd()
    back = time.monotonic()
    up = await wait_server(app_client, host.name, "up", timeout=20)
    assert up["connected"] and up["reason"] == ""
    print(f"{how}: marked down {noticed:.2f}s after the cut (grace {GRACE}s),"
          f" up again {time.monotonic() - back:.2f}s after the repair")
    # The registry tunnel comes back too, once the server dropped the lost session's port.
    await wait_server(app_client, host.name, "up", timeout=20,
                      registry_tunnel=app_client.server.port)
    assert await _app(app_client)[ENGINES].version(host.name)
    assert any(e.kind == "server.up" for e in _drain(events))


def _drain(sub: Any) -> list[Any]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


async def test_dial_reaches_a_container_only_the_server_can_reach(
        app_client: Client, hosts: list[Host], busybox_image: str) -> None:
    host = hosts[0]
    host.load_image(busybox_image)
    await add_server(app_client, host)
    await wait_server(app_client, host.name, "up")
    docker = _app(app_client)[ENGINES].client(host.name)
    container = await docker.containers.run(
        {"Image": busybox_image,
         "Cmd": ["sh", "-c", "mkdir /www && echo served-on-$(hostname) > /www/index.html"
                 " && exec httpd -f -p 8080 -h /www"]}, name="c66d-test-dial")
    info = await container.show()
    address = info["NetworkSettings"]["IPAddress"]
    assert address.startswith("172.30.")  # the host's own bridge, no route from here
    servers = _app(app_client)[SERVERS]
    for _ in range(50):  # httpd needs a moment to listen
        reader, writer = await servers.dial(host.name, address, 8080)
        writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        if answer:
            break
        await asyncio.sleep(0.1)
    assert b"200 OK" in answer and f"served-on-{info['Config']['Hostname']}".encode() in answer
    await container.delete(force=True)


async def test_a_server_that_refuses_c66d_key_is_down_with_the_reason_then_removed(
        app_client: Client, hosts: list[Host]) -> None:
    host = hosts[1]
    events = _app(app_client)[EVENTS].subscribe(["server."])
    resp = await app_client.post("/api/v1/servers", json=host.server_spec("stranger"),
                                 headers=ADMIN)  # c66d's key is not authorized: no add_server
    assert resp.status == 201
    down = await wait_server(app_client, "stranger", "down", timeout=15)
    assert "authorized_keys" in down["reason"]
    resp = await app_client.post("/api/v1/servers", json=host.server_spec("stranger"),
                                 headers=ADMIN)
    assert resp.status == 409
    resp = await app_client.post("/api/v1/servers", json={"name": "Bad Name"}, headers=ADMIN)
    body = await resp.json()
    assert resp.status == 400 and {e["key"] for e in body["error"]["detail"]["errors"]} == \
        {"name", "address"}

    resp = await app_client.delete("/api/v1/servers/stranger", headers=ADMIN)
    assert resp.status == 204
    assert (await app_client.get("/api/v1/servers/stranger", headers=ADMIN)).status == 404
    assert (await app_client.delete("/api/v1/servers/local", headers=ADMIN)).status == 409
    kinds = [(e.kind, e.data["server"]) for e in _drain(events)]
    assert kinds[0] == ("server.added", "stranger") and ("server.down", "stranger") in kinds
    assert kinds[-1] == ("server.removed", "stranger")


async def test_removing_a_connected_server_closes_its_link(
        app_client: Client, hosts: list[Host]) -> None:
    host = hosts[0]
    await add_server(app_client, host)
    await wait_server(app_client, host.name, "up")
    engines = _app(app_client)[ENGINES]
    assert engines.connected(host.name)
    resp = await app_client.delete(f"/api/v1/servers/{host.name}", headers=ADMIN)
    assert resp.status == 204
    assert not engines.connected(host.name)
    with pytest.raises(NotFound):
        await _app(app_client)[SERVERS].run(host.name, ["true"])


async def test_after_a_restart_c66d_reconnects_with_the_same_key_and_pinned_host_key(
        config: Config, hosts: list[Host]) -> None:
    host = hosts[0]
    port = free_port()
    settings = config.replace(server_down_grace=GRACE)
    listeners = Listeners(http=HostPort("127.0.0.1", port))
    async with TestClient(TestServer(create_app(settings, listeners), host="127.0.0.1",
                                     port=port)) as first:
        key = await (await first.get("/api/v1/servers/key", headers=ADMIN)).json()
        await add_server(first, host)
        before = await wait_server(first, host.name, "up")
    async with TestClient(TestServer(create_app(settings, listeners), host="127.0.0.1",
                                     port=port)) as second:
        assert await (await second.get("/api/v1/servers/key", headers=ADMIN)).json() == key
        after = await wait_server(second, host.name, "up", timeout=15)
        assert after["host_key"] == before["host_key"] and after["pending_host_key"] == ""
        assert await _app(second)[ENGINES].version(host.name)
