"""How long one container change costs the DNS table, at 1000 and 10 000 containers.

    .venv/bin/python bench/dns_rebuild.py [--sizes 1000,10000] [--changes 200] [--per-service 10]

The table holds `size` containers (`--per-service` to a service, one TCP port each, spread over
10 servers); each change is a container becoming healthy or draining (what `container.healthy` /
`container.draining` do) followed by one query, which is when the table brings its replies up to
date. Prints the median and the 99th percentile time per change, and the time of a full build.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from c66d.dns.records import ContainerRecord, Port
from c66d.dns.table import DnsTable


def container(i: int, per_service: int = 10) -> ContainerRecord:
    service = i // per_service
    return ContainerRecord(
        id=f"c{i}", name=f"bench-svc{service}-{i}", stack="bench", service=f"svc{service}",
        server=f"s{i % 10}", address=f"10.66.{i // 250}.{i % 250 + 1}", version=1,
        ports=(Port(8000 + service % 100),))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run(size: int, changes: int, per_service: int) -> None:
    table = DnsTable("c66.internal", 5, "10.66.0.0/16")
    for server in range(10):
        table.set_server(f"s{server}", f"192.0.2.{server + 1}")
    started = time.perf_counter()
    table.replace(container(i, per_service) for i in range(size))
    table.zone  # noqa: B018 - compile
    full = time.perf_counter() - started
    times = []
    for n in range(changes):
        i = n * 7919 % size  # spread over the services
        started = time.perf_counter()
        if n % 2 == 0:
            table.remove(f"c{i}")
        else:
            table.add(container(i, per_service))
        table.zone  # noqa: B018 - the next query brings the replies up to date
        times.append(time.perf_counter() - started)
    print(f"{size:6} containers, {per_service} a service: full build {full * 1e3:8.1f} ms; "
          "per change median "
          f"{percentile(times, 0.5) * 1e3:7.3f} ms, p99 {percentile(times, 0.99) * 1e3:7.3f} ms",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--per-service", type=int, default=10, help="containers a service")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.changes, args.per_service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
