"""Placement respects server memory: figures from the engine, fed to the pure planner."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient

from c66d.orchestrator.capacity import free_memory, reserved_by_others
from c66d.orchestrator.plan import Running, ServerSlot, eligible, plan_service, spread
from tests.support.http import ADMIN
from tests.support.stacks import remove_stack_containers, unique, wait_deployment

GIB = 1 << 30


def inspected(stack: str, service: str, memory: int, running: bool = True) -> dict[str, Any]:
    return {"Config": {"Labels": {"c66d.stack": stack, "c66d.service": service}},
            "State": {"Running": running}, "HostConfig": {"Memory": memory}}


def test_memory_left_counts_other_services_running_limits() -> None:
    infos = [inspected("shop", "web", GIB), inspected("shop", "db", 2 * GIB),
             inspected("blog", "web", GIB), inspected("blog", "cron", GIB, running=False),
             inspected("blog", "api", 0)]
    assert reserved_by_others(infos, "shop", "web") == [2 * GIB, GIB]
    assert free_memory(4 * GIB, reserved_by_others(infos, "shop", "web")) == GIB
    assert free_memory(GIB, [2 * GIB]) == 0


def test_the_planner_fills_servers_by_memory_left() -> None:
    big, small, full = (ServerSlot("big", 3 * GIB), ServerSlot("small", GIB),
                        ServerSlot("full", 0))
    # Even spread until a server is full, then the rest where room remains.
    assert spread(4, [big, small, full], Counter(), GIB).per_server == {"big": 3, "small": 1}
    assert eligible([big, small, full], (), GIB) == [big, small]
    plan, unplaced = plan_service("web", 6, "v2", eligible([big, small, full], (), GIB),
                                  [Running("old", "small", "v1")], memory_each=GIB)
    assert unplaced == 2 and sorted(plan.start) == ["big"] * 3 + ["small"]
    assert plan.stop == ("old",)
    # Unknown memory (engine did not say) does not block placement.
    assert spread(2, [ServerSlot("unknown")], Counter(), GIB).per_server == {"unknown": 2}


async def test_a_service_larger_than_any_server_is_refused(
        client: TestClient[Any, Any], busybox_image: str) -> None:
    stack = unique("mem")
    yml = (f"services:\n  web:\n    image: {busybox_image}\n    command: sleep 60\n"
           "    constraints: {resources: {memory: 64TB}}\n")
    resp = await client.post("/api/v1/stacks", headers=ADMIN,
                             json={"name": stack, "service_yml": yml})
    assert resp.status == 201, await resp.text()
    try:
        resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
        done = await wait_deployment(client, (await resp.json())["id"])
        assert done["status"] == "failed"
        assert "fit no server" in done["reason"] and "memory" in done["reason"]
    finally:
        remove_stack_containers(stack)
