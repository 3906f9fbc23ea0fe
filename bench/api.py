"""API and dashboard benchmark: c66d with 100 stacks, 1000 containers and 10 000 builds.

Seeds a fresh data directory through the store API, starts `c66d serve` on it, and sends a
bounded load (a fixed number of requests, a fixed number in flight) on loopback to the
dashboard and to each API list endpoint; then the same load to Debian's nginx serving a static
file as big as the dashboard, the ceiling of what one HTTP server does here. Prints requests per
second, p50 and p99 latency, and each figure as a ratio of nginx's.

    .venv/bin/python bench/api.py [--requests 400] [--concurrency 8]

To compare two versions of c66d on one machine under the same load: `--data DIR` keeps the
seeded data directory (seeded once, copied for each run), `--code A --code B` runs c66d from
each source tree (e.g. a `git archive` of the commit before), alternating `--rounds` times, and
prints the median of each figure per tree.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from c66d.datadir import DataDir
from c66d.store import ContainerRecord, Store

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password"
YML = "services:\n  web:\n    image: bench/web:latest\n    ports: [\"8000:80\"]\n" \
      "  worker:\n    image: bench/worker:latest\n"
PATHS = ["/", "/api/v1/status", "/api/v1/stacks?limit=100", "/api/v1/containers?limit=500",
         "/api/v1/builds?limit=100", "/api/v1/builds?stack=s042&limit=100",
         "/api/v1/registry/repositories?limit=100", "/api/v1/stacks/s042/deployments"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(data: Path, stacks: int, containers: int, builds: int) -> None:
    data_dir = DataDir(data)
    data_dir.create()
    store = Store(data_dir.database)
    await store.open()
    try:
        for i in range(stacks):
            await store.stacks.create(f"s{i:03d}", YML)
            made = await store.deployments.create(f"s{i:03d}", {"images": {}, "counts": {}})
            # finished, or c66d would resume it as an interrupted rollout when it starts
            await store.deployments.set_status(made.id, "succeeded")
            await store.registry.ensure_repo(f"s{i:03d}/web")
        now = time.time()
        for i in range(containers):
            stack = f"s{i % stacks:03d}"
            await store.containers.upsert(ContainerRecord(
                id=f"{i:064x}", name=f"{stack}-web-{i}", stack=stack, service="web",
                server="bench-elsewhere", deployment=1, image="bench/web", config_hash="h",
                address=f"10.9.{i // 250}.{i % 250 + 2}", state="running", health="healthy",
                created_at=now, updated_at=now))
        for i in range(builds):
            queued = await store.builds.enqueue(f"s{i % stacks:03d}", "web", ref=f"r{i}")
            await store.builds.finish(queued.build.id, "succeeded", digest="sha256:" + "0" * 64)
    finally:
        await store.close()


@dataclass
class Result:
    rps: float
    p50: float
    p99: float
    size: int


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int) -> Result:
    latencies: list[float] = []
    size = 0
    todo = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def worker() -> None:
            nonlocal size
            for _ in todo:
                start = time.perf_counter()
                async with session.get(url) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        sys.exit(f"{url}: HTTP {resp.status} {body[:200]!r}")
                latencies.append(time.perf_counter() - start)
                size = len(body)

        for _ in range(concurrency):  # warm the connections
            async with session.get(url) as resp:
                await resp.read()
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - began
    latencies.sort()
    return Result(requests / took, statistics.median(latencies) * 1000,
                  latencies[int(len(latencies) * 0.99) - 1] * 1000, size)


def start_c66d(data: Path, code: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    """`c66d serve` on `data`, imported from the source tree `code`."""
    port = free_port()
    env = {**os.environ, "C66D_ADMIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(code)}
    proc = subprocess.Popen([sys.executable, "-m", "c66d", "serve", "--data-dir", str(data),
                             "--http", f"127.0.0.1:{port}", "--dns", "127.0.0.1:0",
                             "--log-level", "WARNING"], cwd=code,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "stop:" in line or time.monotonic() > deadline:
            break
    return proc, f"http://127.0.0.1:{port}"


def start_nginx(root: Path, size: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (root / "html").mkdir(parents=True)
    (root / "html" / "index.html").write_bytes(b"x" * size)
    (root / "logs").mkdir()
    conf = root / "nginx.conf"
    conf.write_text(f"""worker_processes 1; pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{ access_log off; server {{ listen 127.0.0.1:{port}; root {root}/html; }} }}
""")
    proc = subprocess.Popen(["nginx", "-p", str(root), "-c", str(conf), "-g", "daemon off;"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/index.html"


async def token(base: str) -> str:
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/api/v1/tokens", json={"name": "bench", "scope": "read"},
            headers={"Authorization": auth}) as resp:
        return str((await resp.json())["token"])


async def seeded(args: argparse.Namespace, work: Path) -> Path:
    """The seeded data directory: `--data` (seeded there once) or a fresh one in `work`."""
    data = Path(args.data) if args.data else work / "seed"
    if not (data / "c66d.db").exists():
        began = time.monotonic()
        await seed(data, args.stacks, args.containers, args.builds)
        print(f"seeded {args.stacks} stacks, {args.containers} containers, {args.builds} builds"
              f" in {time.monotonic() - began:.1f} s")
    return data


async def one_run(data: Path, code: Path, work: Path, args: argparse.Namespace
                  ) -> dict[str, Result]:
    """Every endpoint against a c66d from `code` on a copy of `data`."""
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(data, run)
    c66d, base = start_c66d(run, code)
    try:
        headers = {"Authorization": f"Bearer {await token(base)}"}
        return {p: await load(base + p, headers, args.requests, args.concurrency)
                for p in PATHS}
    finally:
        c66d.terminate()
        c66d.wait(timeout=30)


def median_result(results: list[Result]) -> Result:
    return Result(*(statistics.median(getattr(r, f) for r in results)
                    for f in ("rps", "p50", "p99", "size")))


def report(title: str, results: dict[str, Result], peer: Result) -> None:
    print(title)
    print(f"{'endpoint':<42} {'bytes':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
          f" {'rps/nginx':>10}")
    for path, r in [*results.items(), ("nginx static file (peer)", peer)]:
        print(f"{path:<42} {r.size:>8.0f} {r.rps:>8.0f} {r.p50:>8.1f} {r.p99:>8.1f}"
              f" {r.rps / peer.rps:>10.2f}")


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="c66d-bench-api-"))
    work.chmod(0o755)  # nginx workers (www-data) read the static file under it
    nginx = None
    codes = [Path(c).resolve() for c in args.code] or [ROOT]
    try:
        data = await seeded(args, work)
        runs: dict[Path, list[dict[str, Result]]] = {c: [] for c in codes}
        for n in range(args.rounds):
            for code in codes:
                runs[code].append(await one_run(data, code, work, args))
                print(f"round {n + 1}: {code} done (load {os.getloadavg()[0]:.1f})", flush=True)
        size = runs[codes[0]][0]["/"].size
        nginx, static = start_nginx(work / "nginx", size)
        peer = await load(static, {}, args.requests, args.concurrency)
        print(f"{args.requests} requests per endpoint, {args.concurrency} in flight, loopback;"
              f" medians of {args.rounds} round(s); load now {os.getloadavg()[0]:.1f}")
        for code in codes:
            results = {p: median_result([r[p] for r in runs[code]]) for p in PATHS}
            report(f"c66d from {code}", results, peer)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--builds", type=int, default=10_000)
    parser.add_argument("--data", help="seeded data directory to reuse (seeded if missing)")
    parser.add_argument("--code", action="append", default=[],
                        help="source tree to run c66d from (repeat to compare; default: this)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per source tree")
    asyncio.run(main(parser.parse_args()))
