"""Health checks of new containers: HTTP over any stream (local TCP or an SSH tunnel)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from c66d.orchestrator.spec import HealthSpec

Dial = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
ContainerAlive = Callable[[], Awaitable[tuple[bool, str]]]  # (running, why not)

SETTLE = 2.0  # seconds a container without a health check must stay up
FIRST_PROBE_AFTER = 0.05  # then twice as long after each failed probe, up to PROBE_EVERY
PROBE_EVERY = 0.5


@dataclass(frozen=True)
class HealthResult:
    healthy: bool
    reason: str = ""


def accepts(status: int, accept: tuple[str, ...]) -> bool:
    """`200`, `2xx`-style and `200-299` patterns."""
    for pattern in accept:
        pattern = pattern.strip().lower()
        if "-" in pattern:
            low, _, high = pattern.partition("-")
            if low.isdigit() and high.isdigit() and int(low) <= status <= int(high):
                return True
        elif pattern.endswith("xx") and pattern[:1].isdigit():
            if status // 100 == int(pattern[0]):
                return True
        elif pattern.isdigit() and int(pattern) == status:
            return True
    return False


async def http_status(dial: Dial, host: str, port: int, path: str) -> int:
    """One HTTP/1.0 GET; the status code."""
    reader, writer = await dial(host, port)
    try:
        request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: c66d-health\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
    parts = line.decode("latin-1").split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP answer: {line[:60]!r}")
    return int(parts[1])


async def wait_healthy(health: HealthSpec | None, address: str, port: int | None, dial: Dial,
                       alive: ContainerAlive) -> HealthResult:
    """Probe until healthy or the health timeout passes; a container that exits fails at once."""
    if health is None or health.type == "outbound" or port is None or not address:
        await asyncio.sleep(SETTLE)
        running, why = await alive()
        return HealthResult(running, "" if running else why)
    deadline = time.monotonic() + health.timeout
    last = "no answer yet"
    pause = FIRST_PROBE_AFTER
    while time.monotonic() < deadline:
        try:
            if health.protocol == "tcp":
                _, writer = await asyncio.wait_for(dial(address, port), 2)
                writer.close()
                return HealthResult(True)
            async with asyncio.timeout(2):
                status = await http_status(dial, address, port, health.endpoint)
            if accepts(status, health.accept):
                return HealthResult(True)
            last = f"GET {health.endpoint} answered {status}, expected {', '.join(health.accept)}"
        except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            last = f"GET {health.endpoint} on port {port}: {exc or type(exc).__name__}"
        running, why = await alive()  # asked after a failed probe only: one round trip less
        if not running:
            return HealthResult(False, why)
        await asyncio.sleep(pause)
        pause = min(pause * 2, PROBE_EVERY)
    return HealthResult(False, f"health check timed out after {health.timeout:g}s: {last}")
