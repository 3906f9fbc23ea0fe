"""A c66d deployment against the bare Docker operations it performs, on namespace servers.

c66d (`c66d serve`, servers added over SSH) deploys one web service (busybox httpd with an
HTTP health check) to one server and to three servers (one container each); each round is a
new image, so every round pulls, creates, starts, health-checks, updates nginx and drains the
previous container. The peer does the same Docker operations directly on the same engines
(pull from the same registry through the same tunnel, create, start, poll HTTP health, stop
and remove the previous container), with aiodocker on the engines' own sockets. Prints the
medians and their ratio.

    .venv/bin/python bench/deploy.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hosts import Host, HostLab  # noqa: E402
from tests.support.http import basic  # noqa: E402
from tests.support.images import busybox_context, docker_build  # noqa: E402

PASSWORD = "bench-admin-password"
AUTH = basic("admin", PASSWORD)
BASE = "c66d-bench/busybox:latest"
COMMAND = ["sh", "-c", "mkdir -p /w && echo ok > /w/i.html && exec httpd -f -p 8000 -h /w"]
YML = """\
services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo ok > /w/i.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000:80"]
    traffic_matches: [bench.example]
    health: {{endpoint: /i.html, timeout: 30s}}
    stop_grace: 0s
    constraints: {{servers: [{servers}]}}
"""


def start_c66d(data: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "C66D_ADMIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1",
           "C66D_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "c66d", "serve", "--data-dir", str(data),
                             "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if m := re.search(r"http:\s+(http://[^/\s]+)/", line):
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("c66d did not start")


def images(registry: str, work: Path, names: list[str]) -> None:
    """A distinct small image per name (new top layer), pushed into c66d's registry."""
    docker = ["docker", "--config", str(work / "docker-config")]
    subprocess.run([*docker, "login", registry, "-u", "admin", "--password-stdin"],
                   input=PASSWORD, text=True, check=True, capture_output=True, timeout=60)
    for name in names:
        context = work / "ctx" / name.replace("/", "_").replace(":", "_")
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo {name} > /name\n")
        ref = f"{registry}/{name}"
        subprocess.run([*docker, "build", "-q", "-t", ref, str(context)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*docker, "push", ref], check=True, capture_output=True, timeout=120)
        subprocess.run([*docker, "rmi", ref], capture_output=True, timeout=60)


class C66d:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.last: dict[str, Any] = {}  # the last deployment waited for

    async def call(self, method: str, path: str, body: object = None) -> Any:
        async with self.session.request(method, self.url + path, json=body,
                                        headers=AUTH) as resp:
            if resp.status >= 400:
                raise SystemExit(f"{method} {path}: {resp.status} {await resp.text()}")
            return await resp.json(content_type=None)

    async def add(self, host: Host) -> None:
        host.authorize((await self.call("GET", "/api/v1/servers/key"))["public_key"])
        await self.call("POST", "/api/v1/servers", host.server_spec())

    async def wait_up(self, name: str, port: int) -> None:
        for _ in range(300):
            body = await self.call("GET", f"/api/v1/servers/{name}")
            if body.get("state") == "up" and body.get("registry_tunnel") == port:
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"server {name} did not come up")

    async def deploy(self, stack: str, yml: str, count: int) -> float:
        await self.call("PUT", f"/api/v1/stacks/{stack}", {"service_yml": yml})
        started = time.monotonic()
        await self.wait((await self.call("POST", f"/api/v1/stacks/{stack}/deployments"))["id"])
        if count > 1:  # warm-up round: one container per server from now on
            body = await self.call("POST", f"/api/v1/stacks/{stack}/services/web/scale",
                                   {"count": count})
            await self.wait(body["deployment"])
        return time.monotonic() - started

    async def wait(self, deployment: int) -> None:
        while True:
            body = await self.call("GET", f"/api/v1/deployments/{deployment}")
            if body["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.02)
        if body["status"] != "succeeded":
            raise SystemExit(f"deployment failed: {body['reason']}")
        self.last = body


def timeline(deployment: dict[str, Any]) -> str:
    """The steps of a deployment, seconds after its first step."""
    steps = deployment.get("steps") or []
    if not steps:
        return ""
    first = steps[0]["at"]
    return "\n".join(f"  +{s['at'] - first:6.3f} {s['action']:<10} {s['server']:<12} "
                     f"{s['message'][:60]}" for s in steps)


async def healthy(host: Host, address: str) -> None:
    url = f"http://{address}:8000/i.html"
    for _ in range(600):
        proc = await asyncio.create_subprocess_exec(
            *host.nsenter_net("busybox", "wget", "-q", "-O", "/dev/null", url),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        if await proc.wait() == 0:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{url} never answered")


async def bare(engines: dict[str, aiodocker.Docker], hosts: list[Host], image: str,
               auth: dict[str, str], old: dict[str, str], label: str) -> float:
    """pull, create, start on each server; health in parallel; then remove the previous."""
    started = time.monotonic()
    for host in hosts:
        await engines[host.name].images.pull(image, auth=auth)
    new: dict[str, tuple[str, str]] = {}
    for host in hosts:
        container = await engines[host.name].containers.create_or_replace(
            f"bare-{label}", {"Image": image, "Cmd": COMMAND,
                              "ExposedPorts": {"8000/tcp": {}}})
        await container.start()
        info = await container.show()
        new[host.name] = (container.id, info["NetworkSettings"]["IPAddress"])
    await asyncio.gather(*(healthy(h, new[h.name][1]) for h in hosts))
    for host in hosts:
        if host.name in old:
            await engines[host.name].containers.container(old[host.name]).delete(force=True)
        old[host.name] = new[host.name][0]
    return time.monotonic() - started


async def run(rounds: int, work: Path, profile: bool = False) -> None:
    docker_build(busybox_context(work / "base"), BASE)
    lab = HostLab()
    proc = None
    engines: dict[str, aiodocker.Docker] = {}
    try:
        hosts = lab.get(3)
        proc, url = start_c66d(work / "data")
        registry = url.removeprefix("http://")
        port = int(registry.rsplit(":", 1)[1])
        async with aiohttp.ClientSession() as session:
            c66d = C66d(session, url)
            for host in hosts:
                await c66d.add(host)
            for host in hosts:
                await c66d.wait_up(host.name, port)
                engines[host.name] = aiodocker.Docker(url=host.docker_url)
            names = [f"{side}{size}/web:r{n}" for side in ("c", "p") for size in (1, 3)
                     for n in range(rounds + 1)]
            await asyncio.to_thread(images, registry, work, names)
            auth = {"username": "admin", "password": PASSWORD, "serveraddress": registry}
            print(f"rounds: {rounds} (after one warm-up each); busybox httpd, HTTP health")
            for size in (1, 3):
                chosen = hosts[:size]
                servers = ", ".join(h.name for h in chosen)
                stack = f"c{size}"
                await c66d.call("POST", "/api/v1/stacks", {
                    "name": stack, "service_yml": YML.format(
                        image=f"{registry}/c{size}/web:r0", servers=servers)})
                old: dict[str, str] = {}
                ours, peer = [], []
                for n in range(rounds + 1):
                    yml = YML.format(image=f"{registry}/c{size}/web:r{n}", servers=servers)
                    pair = [c66d.deploy(stack, yml, size if n == 0 else 0),
                            bare(engines, chosen, f"{registry}/p{size}/web:r{n}", auth, old,
                                 f"p{size}-{n}")]
                    first, second = (pair if n % 2 == 0 else pair[::-1])
                    a = await first
                    b = await second
                    t_c66d, t_bare = (a, b) if n % 2 == 0 else (b, a)
                    if n:  # round 0 is the warm-up
                        ours.append(t_c66d)
                        peer.append(t_bare)
                m_ours, m_peer = statistics.median(ours), statistics.median(peer)
                if profile:
                    print(f"steps of the last c66d round, {size} server(s):")
                    print(timeline(c66d.last))
                print(f"{size} server(s): c66d " + " ".join(f"{t:.2f}" for t in ours)
                      + f" median {m_ours:.2f} s | bare " + " ".join(f"{t:.2f}" for t in peer)
                      + f" median {m_peer:.2f} s | ratio {m_ours / m_peer:.2f}")
    finally:
        for engine in engines.values():
            await engine.close()
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        lab.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="print the steps of the last c66d deployment with their times")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="c66d-bench-deploy-"))
    try:
        asyncio.run(run(args.rounds, work, args.profile))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
