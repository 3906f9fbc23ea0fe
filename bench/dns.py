"""c66d's DNS server against dnsmasq, same 1000 names, same machine, one run.

    .venv/bin/python bench/dns.py [--seconds 5] [--rounds 3] [--names 1000]
                                  [--containers 10000 --churn 20]

Each server runs pinned to one core (taskset), dnsperf to another. c66d runs its real DNS
listeners and table on uvloop in a child process fed with the names the way the event bus would
(container.healthy); dnsmasq serves the same names from an addn-hosts file, no upstreams, in the
foreground. Rounds alternate between the two so both see the same background load; prints the
median queries per second at saturation (100 queries outstanding) and the unloaded latency (one
outstanding) for both, and the ratios. With `--containers N --churn R`, c66d's table holds N
containers (the names queried among them) and R of them per second become healthy or drain while
it serves, as during rollouts: each change is taken in between queries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ZONE = "c66.internal"


def names(count: int) -> list[tuple[str, str]]:
    """(service name, address) for `count` one-container services of the stack `bench`."""
    return [(f"svc{i}.bench.{ZONE}", f"10.66.{i // 250}.{i % 250 + 1}") for i in range(count)]


def free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise OSError("no free port")


def healthy(i: int, address: str) -> dict[str, object]:
    return {"id": f"c{i}", "name": f"bench-svc{i}-1", "stack": "bench", "service": f"svc{i}",
            "server": "local", "address": address, "version": 1, "ports": []}


async def churn(table: object, count: int, per_second: int) -> None:
    """Containers come and go at `per_second` (each one drains, then is healthy again)."""
    from c66d.dns.feed import apply_event

    n = 0
    while True:
        await asyncio.sleep(1 / per_second)
        i = n * 7919 % count
        address = f"10.{66 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        kind = "container.draining" if n % 2 == 0 else "container.healthy"
        apply_event(table, kind, healthy(i, address))  # type: ignore[arg-type]
        n += 1


async def serve_c66d(port: int, count: int, containers: int, per_second: int) -> None:
    """Child process: c66d's DNS (table, resolver, listeners) fed by container.healthy events."""
    from c66d.config import HostPort
    from c66d.dns.feed import apply_event
    from c66d.dns.resolver import Resolver
    from c66d.dns.server import DnsListeners
    from c66d.dns.table import DnsTable

    table = DnsTable(ZONE, 5, "10.66.0.0/16")
    for i, (_, address) in enumerate(names(count)):
        apply_event(table, "container.healthy", healthy(i, address))
    for i in range(count, containers):
        apply_event(table, "container.healthy", healthy(
            i, f"10.{66 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"))
    resolver = Resolver(table)
    table.zone  # noqa: B018 - compile once before the clock starts
    listeners = DnsListeners(HostPort("127.0.0.1", port), resolver.answer)
    await listeners.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    changes = asyncio.ensure_future(churn(table, max(count, containers), per_second)
                                    if per_second else stop.wait())
    await stop.wait()
    changes.cancel()
    await listeners.stop()


def start_c66d(port: int, count: int, core: int, containers: int,
               per_second: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, __file__, "--child", str(port), str(count),
         str(containers), str(per_second)],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise SystemExit("c66d's DNS did not start")
    return proc


def start_dnsmasq(port: int, count: int, core: int, work: Path) -> subprocess.Popen[str]:
    hosts = work / "hosts"
    hosts.write_text("".join(f"{address} {name}\n" for name, address in names(count)))
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), "dnsmasq", "--keep-in-foreground", "--no-resolv",
         "--no-hosts", f"--addn-hosts={hosts}", f"--port={port}", "--listen-address=127.0.0.1",
         "--bind-interfaces", f"--local=/{ZONE}/", "--cache-size=10000", "--pid-file=",
         "--user=root", "--log-facility=-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    wait_answering(port)
    return proc


def wait_answering(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=1",
                              "+tries=1", f"svc0.bench.{ZONE}"], capture_output=True, text=True)
        if out.stdout.strip():
            return
        time.sleep(0.2)
    raise SystemExit(f"nothing answers on port {port}")


def dnsperf(port: int, queries: Path, seconds: float, core: int,
            outstanding: int) -> dict[str, float]:
    out = subprocess.run(
        ["taskset", "-c", str(core), "dnsperf", "-s", "127.0.0.1", "-p", str(port),
         "-d", str(queries), "-l", str(seconds), "-q", str(outstanding), "-t", "2"],
        capture_output=True, text=True, check=True).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    return {"qps": qps, "latency_us": latency * 1e6, "lost": lost}


def measure(port: int, queries: Path, seconds: float, core: int) -> dict[str, float]:
    loaded = dnsperf(port, queries, seconds, core, 100)
    unloaded = dnsperf(port, queries, max(1.0, seconds / 3), core, 1)
    return {"qps": loaded["qps"], "loaded_us": loaded["latency_us"], "lost": loaded["lost"],
            "unloaded_us": unloaded["latency_us"]}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians")
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=0,
                        help="containers in c66d's table (default: one per name)")
    parser.add_argument("--churn", type=int, default=0,
                        help="container changes per second while c66d serves")
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import uvloop
        uvloop.run(serve_c66d(*args.child))
        return 0
    for tool in ("dnsperf", "dnsmasq", "taskset", "dig"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (run scripts/install)")
    cores = sorted(os.sched_getaffinity(0))
    server_core, load_core = cores[0], cores[-1]
    print(f"{args.names} names, {args.rounds} rounds of {args.seconds:.0f} s; "
          f"servers on core {server_core}, "
          f"dnsperf on core {load_core}"
          + (f"; c66d holds {args.containers} containers, {args.churn} changes/s"
             if args.containers or args.churn else ""), flush=True)
    with tempfile.TemporaryDirectory(prefix="c66d-bench-dns-") as tmp:
        work = Path(tmp)
        queries = work / "queries"
        queries.write_text("".join(f"{name} A\n" for name, _ in names(args.names)))
        ports = {"c66d": free_port(), "dnsmasq": free_port()}
        procs = [start_c66d(ports["c66d"], args.names, server_core, args.containers,
                            args.churn)]
        try:
            procs.append(start_dnsmasq(ports["dnsmasq"], args.names, server_core, work))
            runs: dict[str, list[dict[str, float]]] = {"c66d": [], "dnsmasq": []}
            for port in ports.values():
                dnsperf(port, queries, 1, load_core, 100)  # warm up
            for _ in range(args.rounds):  # interleaved: both see the same background load
                for name, port in ports.items():
                    runs[name].append(measure(port, queries, args.seconds, load_core))
        finally:
            for proc in procs:
                stop(proc)
    summary = {}
    for name, results in runs.items():
        summary[name] = {key: median([r[key] for r in results]) for key in results[0]}
        got = summary[name]
        print(f"{name:8} {got['qps']:9.0f} qps (runs: "
              + ", ".join(f"{r['qps']:.0f}" for r in results)
              + f"; lost {got['lost']:.0f})  latency loaded {got['loaded_us']:6.0f} us, "
              f"unloaded {got['unloaded_us']:4.0f} us", flush=True)
    ours, theirs = summary["c66d"], summary["dnsmasq"]
    print(f"ratio    qps c66d/dnsmasq = {ours['qps'] / theirs['qps']:.2f} (goal >= 0.8); "
          f"unloaded latency c66d/dnsmasq = {ours['unloaded_us'] / theirs['unloaded_us']:.2f} "
          "(goal <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
