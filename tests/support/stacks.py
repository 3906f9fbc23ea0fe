"""Helpers for tests that deploy stacks: unique names, waiting, cleanup of containers."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.http import ADMIN

FINISHED = ("succeeded", "failed", "cancelled")


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


async def wait_deployment(client: TestClient[Any, Any], deployment_id: int,
                          timeout: float = 90) -> dict[str, Any]:
    """Poll until the deployment finishes (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        resp = await client.get(f"/api/v1/deployments/{deployment_id}", headers=ADMIN)
        body: dict[str, Any] = await resp.json()
        if body["status"] in FINISHED:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"deployment {deployment_id} did not finish: {body}")
        await asyncio.sleep(0.3)


def remove_stack_containers(stack: str, docker_host: str | None = None) -> None:
    """Remove every container c66d labelled for the stack on an engine."""
    base = ["docker"] + (["-H", docker_host] if docker_host else [])
    ids = subprocess.run([*base, "ps", "-aq", "--filter", f"label=c66d.stack={stack}"],
                         capture_output=True, text=True, timeout=60).stdout.split()
    if ids:
        subprocess.run([*base, "rm", "-f", *ids], capture_output=True, timeout=120)


async def delete_stack(client: TestClient[Any, Any], stack: str,
                       docker_host: str | None = None) -> None:
    """Teardown while c66d still runs: delete the stack first (its reconciler would recreate
    containers removed by hand otherwise), then remove whatever is left on the engine."""
    await client.delete(f"/api/v1/stacks/{stack}", headers=ADMIN)
    remove_stack_containers(stack, docker_host)
