"""Rollouts to two real servers (namespace hosts over SSH) behind their nginx load balancers."""

from __future__ import annotations

import asyncio
import socket
import ssl
import stat
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509

from c66d.config import HostPort
from c66d.keys import LISTENERS
from c66d.orchestrator.lbapply import BALANCER, BalancerFailed
from c66d.orchestrator.tls import STACK_CERT, STACK_KEY, self_signed
from tests.support.hosts import Host, add_server, wait_server
from tests.support.http import ADMIN
from tests.support.registry import DockerCli
from tests.support.stacks import remove_stack_containers, unique, wait_deployment

SERVICE_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo "$VERSION" > /w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000:80"]
    traffic_matches: [{site}]
    env_vars: {{VERSION: _env(VERSION)}}
    health: {{endpoint: {endpoint}, timeout: {timeout}}}
    stop_grace: 2s
    constraints: {{servers: [{servers}]}}
  worker:
    image: {image}
    command: sleep 3600
    stop_grace: 1s
    constraints: {{servers: [{servers}]}}
"""


@dataclass
class Lab:
    client: TestClient[Any, Any]
    hosts: list[Host]
    stack: str
    image: str  # in c66d's registry, pulled by the servers through their tunnel
    site: str = ""
    names: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # more stacks a test made, to clean up

    def service_yml(self, endpoint: str = "/index.html", timeout: str = "20s") -> str:
        return SERVICE_YML.format(image=self.image, site=self.site, endpoint=endpoint,
                                  timeout=timeout, servers=", ".join(self.names))


async def push_image(client: TestClient[Any, Any], busybox: str, repo: str,
                     tmp_path: Path) -> str:
    """The test image pushed into c66d's registry as REGISTRY/repo:v1."""
    registry = f"127.0.0.1:{client.port}"
    cli = DockerCli(tmp_path / "docker-config")
    ref = f"{registry}/{repo}:v1"

    def push() -> None:  # in a thread: the loop must keep serving the registry
        cli.login(registry)
        cli("tag", busybox, ref)
        cli("push", ref, timeout=120)
        cli("rmi", ref, check=False)

    await asyncio.to_thread(push)
    return ref


@pytest.fixture
async def lab(client: TestClient[Any, Any], hosts: list[Host], busybox_image: str,
              tmp_path: Path) -> AsyncIterator[Lab]:
    stack = unique("lb")
    client.app[LISTENERS].http = HostPort("127.0.0.1", client.port)  # servers pull from here
    for host in hosts:
        await add_server(client, host)
    for host in hosts:
        await wait_server(client, host.name, "up", registry_tunnel=client.port)
    image = await push_image(client, busybox_image, f"{stack}/web", tmp_path)
    lab = Lab(client, hosts, stack, image, site=f"{stack}.example",
              names=[h.name for h in hosts])
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": stack, "service_yml": lab.service_yml(), "env": {"VERSION": "v1"}})
    assert resp.status == 201, await resp.text()
    yield lab
    await cleanup(lab, stack, *lab.extra)


async def cleanup(lab: Lab, *stacks: str) -> None:
    """Delete the stacks first (the reconciler would recreate containers removed by hand),
    then remove whatever is left of them on the servers."""
    for stack in stacks:
        await lab.client.delete(f"/api/v1/stacks/{stack}", headers=ADMIN)
    for stack in stacks:
        for host in lab.hosts:
            remove_stack_containers(stack, host.docker_url)


async def deploy(client: TestClient[Any, Any], stack: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
    assert resp.status == 202, await resp.text()
    return await wait_deployment(client, (await resp.json())["id"], timeout=150)


async def scale(client: TestClient[Any, Any], stack: str, count: int) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/stacks/{stack}/services/web/scale", headers=ADMIN,
                             json={"count": count})
    assert resp.status in (200, 202), await resp.text()
    return await wait_deployment(client, (await resp.json())["deployment"], timeout=150)


async def web_containers(lab: Lab) -> list[dict[str, Any]]:
    resp = await lab.client.get(f"/api/v1/containers?stack={lab.stack}&service=web",
                                headers=ADMIN)
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def through_nginx(lab: Lab, rounds: int = 6) -> dict[str, Counter[str]]:
    """What each server's nginx answers for the stack's name (several requests each)."""
    seen: dict[str, Counter[str]] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for host in lab.hosts:
            seen[host.name] = Counter()
            for _ in range(rounds):
                try:
                    async with session.get(f"http://{host.address}/index.html",
                                           headers={"Host": lab.site}) as resp:
                        body = (await resp.text()).strip()
                        seen[host.name][body if resp.status == 200 else str(resp.status)] += 1
                except aiohttp.ClientError as exc:
                    seen[host.name][type(exc).__name__] += 1
    return seen


@dataclass
class Load:
    ok: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


async def load_loop(lab: Lab, stop: asyncio.Event, *, workers: int = 20,
                    cap: int = 40_000, limit: float = 150, keep_alive: bool = False) -> Load:
    """`workers` concurrent clients GET the site from both servers' nginx, round the
    clock until `stop` is set (bounded by `cap` requests and `limit` seconds); with
    `keep_alive` they reuse their connections across requests."""
    load = Load()
    deadline = time.monotonic() + limit
    sent = 0
    connector = aiohttp.TCPConnector(force_close=not keep_alive, limit=0)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def worker(n: int) -> None:
            nonlocal sent
            i = n
            while not stop.is_set() and sent < cap and time.monotonic() < deadline:
                sent += 1
                host = lab.hosts[i % len(lab.hosts)]
                i += 1
                try:
                    async with session.get(f"http://{host.address}/index.html",
                                           headers={"Host": lab.site}) as resp:
                        body = (await resp.text()).strip()
                    if resp.status == 200:
                        load.ok[body] += 1
                    else:
                        load.failures.append(f"{host.name}: {resp.status} {body[:80]}")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    load.failures.append(f"{host.name}: {type(exc).__name__} {exc}")

        await asyncio.gather(*(worker(n) for n in range(workers)))
    return load


async def test_two_servers_scale_update_under_load_fail_rollback(lab: Lab) -> None:
    client, stack = lab.client, lab.stack
    first = await deploy(client, stack)
    assert first["status"] == "succeeded", (first["reason"], first["steps"])
    pulls = {s["server"] for s in first["steps"] if s["action"] == "pull"}
    assert pulls  # the server pulled from c66d's registry through its tunnel

    # Two web containers: one per server, each behind that server's own nginx.
    scaled = await scale(client, stack, 2)
    assert scaled["status"] == "succeeded", scaled
    web = await web_containers(lab)
    assert sorted(c["server"] for c in web) == sorted(lab.names)
    assert await through_nginx(lab) == {n: Counter({"v1": 6}) for n in lab.names}
    for host in lab.hosts:
        conf = (host.dir / "etc-nginx" / "c66d" / "nginx.conf").read_text()
        assert f"server_name {lab.site};" in conf
        here = [c["address"] for c in web if c["server"] == host.name]
        assert f"server {here[0]}:8000;" in conf

    # Scale up to four (two per server), then down to two again: nginx follows.
    up = await scale(client, stack, 4)
    assert up["status"] == "succeeded", up
    web = await web_containers(lab)
    assert Counter(c["server"] for c in web) == Counter({n: 2 for n in lab.names})
    for host in lab.hosts:
        conf = (host.dir / "etc-nginx" / "c66d" / "nginx.conf").read_text()
        assert all(f"server {c['address']}:8000;" in conf for c in web
                   if c["server"] == host.name)
    down = await scale(client, stack, 2)
    assert down["status"] == "succeeded", down
    web = await web_containers(lab)
    assert len(web) == 2
    for host in lab.hosts:
        conf = (host.dir / "etc-nginx" / "c66d" / "nginx.conf").read_text()
        assert conf.count(":8000;") == 1
    assert await through_nginx(lab) == {n: Counter({"v1": 6}) for n in lab.names}

    # A new version while 20 clients hammer both load balancers: not one request fails.
    resp = await client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN,
                            json={"variables": {"VERSION": "v2"}})
    assert resp.status == 200
    stop = asyncio.Event()
    loader = asyncio.create_task(load_loop(lab, stop))
    await asyncio.sleep(0.5)  # the loop is running before the rollout starts
    try:
        second = await deploy(client, stack)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        load = await loader
    assert second["status"] == "succeeded", second
    assert load.failures == [], load.failures[:10]
    assert load.ok["v1"] > 0 and load.ok["v2"] > 0, load.ok
    assert set(load.ok) == {"v1", "v2"}
    assert await through_nginx(lab) == {n: Counter({"v2": 6}) for n in lab.names}
    assert ("balancer", "web") in [(s["action"], s["service"]) for s in second["steps"]]

    # A failing health check: the rollout fails, nginx keeps serving v2 on both servers.
    resp = await client.put(f"/api/v1/stacks/{stack}", headers=ADMIN, json={
        "service_yml": lab.service_yml(endpoint="/missing.html", timeout="3s")})
    assert resp.status == 200
    resp = await client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN,
                            json={"variables": {"VERSION": "v3"}})
    failed = await deploy(client, stack)
    assert failed["status"] == "failed" and "answered 404" in failed["reason"], failed
    assert await through_nginx(lab) == {n: Counter({"v2": 6}) for n in lab.names}
    assert len(await web_containers(lab)) == 2

    # Roll back to the first deployment (its spec and the variables it ran with).
    resp = await client.post(f"/api/v1/stacks/{stack}/rollback", headers=ADMIN,
                             json={"deployment": first["number"]})
    assert resp.status == 202
    rolled = await wait_deployment(client, (await resp.json())["id"], timeout=150)
    assert rolled["status"] == "succeeded", rolled
    assert await through_nginx(lab) == {n: Counter({"v1": 6}) for n in lab.names}


async def test_a_configuration_nginx_refuses_never_replaces_the_working_one(lab: Lab) -> None:
    client, stack = lab.client, lab.stack
    done = await deploy(client, stack)
    assert done["status"] == "succeeded", done["reason"]
    [web] = await web_containers(lab)
    host = next(h for h in lab.hosts if h.name == web["server"])
    conf = host.dir / "etc-nginx" / "c66d" / "nginx.conf"
    working = conf.read_text()
    assert (await through_nginx(lab, rounds=2))[host.name] == Counter({"v1": 2})

    broken = working.replace("events {", "events {\n    no_such_directive on;")
    with pytest.raises(BalancerFailed) as caught:
        await client.app[BALANCER].install(host.name, broken)
    assert "nginx -t refused" in caught.value.message
    assert "no_such_directive" in caught.value.message
    assert conf.read_text() == working
    assert not (conf.parent / "nginx.conf.candidate").exists()
    assert (await through_nginx(lab, rounds=2))[host.name] == Counter({"v1": 2})


ROLL_YML = """\
services:
  web:
    image: {image}
    command: sh -c 'sleep 1; mkdir /w; echo {rollout} > /w/index.html; exec httpd -f -p 8000 -h /w'
    ports: ["8000:80"]
    traffic_matches: [{site}]
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
    rollout: {rollout}
    constraints: {{servers: [{servers}]}}
"""


async def two_server_stack(lab: Lab, rollout: str) -> tuple[str, list[dict[str, Any]]]:
    """A stack of one web service, one container on each server: its first deployment's
    steps for the web service."""
    stack = unique(rollout[:3])
    lab.extra.append(stack)
    yml = ROLL_YML.format(image=lab.image, site=f"{stack}.example", rollout=rollout,
                          servers=", ".join(lab.names))
    resp = await lab.client.post("/api/v1/stacks", headers=ADMIN,
                                 json={"name": stack, "service_yml": yml})
    assert resp.status == 201, await resp.text()
    resp = await lab.client.post(f"/api/v1/stacks/{stack}/services/web/scale", headers=ADMIN,
                                 json={"count": 2})
    assert resp.status in (200, 202), await resp.text()
    done = await deploy(lab.client, stack)
    assert done["status"] == "succeeded", (done["reason"], done["steps"])
    return stack, [s for s in done["steps"] if s["service"] == "web"]


def at(steps: list[dict[str, Any]], action: str, server: str) -> float:
    [found] = [s["at"] for s in steps if s["action"] == action and s["server"] == server]
    return float(found)


async def test_servers_roll_out_side_by_side_unless_serial(lab: Lab) -> None:
    a, b = sorted(lab.names)
    # Parallel (the default): both servers pull at once (the image is new to them), both
    # containers start before either is healthy, both nginx are switched.
    stack, steps = await two_server_stack(lab, "parallel")
    pulls = sorted((at(steps, "pull", a), at(steps, "pull", b)))
    starts = sorted((at(steps, "start", a), at(steps, "start", b)))
    assert pulls[1] - pulls[0] < starts[0] - pulls[1], steps  # the pulls overlapped
    assert starts[1] < min(at(steps, "healthy", a), at(steps, "healthy", b)), steps
    assert {s["server"] for s in steps if s["action"] == "balancer"} == {a, b}
    # Serial: one server after the other, each healthy before the next one starts.
    serial, steps = await two_server_stack(lab, "serial")
    assert (at(steps, "start", a) < at(steps, "healthy", a) < at(steps, "start", b)
            < at(steps, "healthy", b) < at(steps, "balancer", a) < at(steps, "balancer", b)
            ), steps
    for name, body in ((stack, "parallel"), (serial, "serial")):
        seen = await through_nginx(Lab(lab.client, lab.hosts, name, lab.image,
                                       site=f"{name}.example"), rounds=2)
        assert seen == {n: Counter({body: 2}) for n in lab.names}

    # A deleted stack leaves both servers' nginx: its server block goes, the other stays.
    resp = await lab.client.delete(f"/api/v1/stacks/{stack}", headers=ADMIN)
    assert resp.status in (200, 204), await resp.text()
    deadline = time.monotonic() + 30
    confs = {}
    while time.monotonic() < deadline:
        confs = {h.name: (h.dir / "etc-nginx" / "c66d" / "nginx.conf").read_text()
                 for h in lab.hosts}
        if not any(f"{stack}.example" in conf for conf in confs.values()):
            break
        await asyncio.sleep(0.2)
    assert all(f"{stack}.example" not in conf for conf in confs.values()), confs
    assert all(f"server_name {serial}.example;" in conf for conf in confs.values())
    for host in lab.hosts:
        listed = host.docker("ps", "-aq", "--filter", f"label=c66d.stack={stack}").stdout
        assert listed.strip() == ""


def tls_get(address: str, name: str) -> tuple[str, str]:
    """GET /index.html over TLS (SNI `name`, no verification): (body, certificate CN)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, 443), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=name) as conn:
        der = conn.getpeercert(binary_form=True)
        assert der is not None
        conn.sendall(f"GET /index.html HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    cert = x509.load_der_x509_certificate(der)
    [cn] = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return body.strip(), str(cn.value)


async def test_https_ports_are_served_with_tls_by_each_servers_nginx(lab: Lab) -> None:
    stack = unique("tls")
    lab.extra.append(stack)
    site = f"{stack}.example"
    yml = ROLL_YML.format(image=lab.image, site=site, rollout="parallel",
                          servers=", ".join(lab.names)).replace('"8000:80"', '"8000:80:443"')
    resp = await lab.client.post("/api/v1/stacks", headers=ADMIN,
                                 json={"name": stack, "service_yml": yml})
    assert resp.status == 201, await resp.text()
    await lab.client.post(f"/api/v1/stacks/{stack}/services/web/scale", headers=ADMIN,
                          json={"count": 2})
    done = await deploy(lab.client, stack)
    assert done["status"] == "succeeded", (done["reason"], done["steps"])
    # No certificate given: each server answers with its own self-signed one (0600 on disk).
    for host in lab.hosts:
        body, cn = await asyncio.to_thread(tls_get, host.address, site)
        assert (body, cn) == ("parallel", f"{host.name}.c66d")
        pem = host.dir / "etc-nginx" / "c66d" / "tls" / "self-signed.pem"
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
        assert "PRIVATE KEY" in pem.read_text()
    # The stack brings its certificate as two variables: the next deployment serves it.
    key, cert = self_signed(site).split("-----BEGIN CERTIFICATE-----")
    resp = await lab.client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN, json={
        "variables": {STACK_CERT: "-----BEGIN CERTIFICATE-----" + cert, STACK_KEY: key}})
    assert resp.status == 200, await resp.text()
    again = await deploy(lab.client, stack)
    assert again["status"] == "succeeded", again
    for host in lab.hosts:
        assert await asyncio.to_thread(tls_get, host.address, site) == ("parallel", site)
        files = sorted((host.dir / "etc-nginx" / "c66d" / "tls").iterdir())
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    # The certificate goes with its deployment: rolling back to the first one (made before
    # the stack had a certificate) serves the servers' own again, whatever the stack says now.
    resp = await lab.client.post(f"/api/v1/stacks/{stack}/rollback", headers=ADMIN,
                                 json={"deployment": done["number"]})
    assert resp.status == 202, await resp.text()
    back = await wait_deployment(lab.client, (await resp.json())["id"], timeout=150)
    assert back["status"] == "succeeded", back
    for host in lab.hosts:
        body, cn = await asyncio.to_thread(tls_get, host.address, site)
        assert (body, cn) == ("parallel", f"{host.name}.c66d")


async def test_keep_alive_clients_see_no_failure_across_nginx_reloads(lab: Lab) -> None:
    """Clients that keep their connections open while a rollout reloads nginx twice."""
    client, stack = lab.client, lab.stack
    first = await deploy(client, stack)
    assert first["status"] == "succeeded", (first["reason"], first["steps"])
    scaled = await scale(client, stack, 2)  # one web container behind each server's nginx
    assert scaled["status"] == "succeeded", scaled
    resp = await client.put(f"/api/v1/stacks/{stack}/env", headers=ADMIN,
                            json={"variables": {"VERSION": "v2"}})
    assert resp.status == 200
    stop = asyncio.Event()
    loader = asyncio.create_task(load_loop(lab, stop, workers=10, keep_alive=True))
    await asyncio.sleep(0.5)
    try:
        second = await deploy(client, stack)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        load = await loader
    assert second["status"] == "succeeded", second
    assert load.failures == [], (len(load.failures), load.failures[:10], load.ok)
    assert load.ok["v1"] > 0 and load.ok["v2"] > 0, load.ok


async def test_a_reload_is_done_only_when_old_workers_stopped_taking_connections(
        lab: Lab) -> None:
    """Right after the balancer returns, every new connection gets the new configuration
    (nginx's old workers go on accepting for 100 ms after the new ones start)."""
    client, stack = lab.client, lab.stack
    done = await deploy(client, stack)
    assert done["status"] == "succeeded", done["reason"]
    [web] = await web_containers(lab)
    host = next(h for h in lab.hosts if h.name == web["server"])
    working = (host.dir / "etc-nginx" / "c66d" / "nginx.conf").read_text()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for n in range(4):
            name = f"renamed{n}.{lab.site}"
            await client.app[BALANCER].install(
                host.name, working.replace(f"server_name {lab.site};", f"server_name {name};"))
            async with session.get(f"http://{host.address}/index.html",
                                   headers={"Host": name}) as resp:
                assert (resp.status, (await resp.text()).strip()) == (200, "v1"), n
    client.app[BALANCER].forget(host.name)
    await client.app[BALANCER].update(host.name)  # back to what the store says
