"""The dashboard: public health for anyone, each person's stacks, builds and events for them."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient

from c66d.keys import EVENTS, STORE
from c66d.store import ContainerRecord
from tests.support.auth import OTHER_STACK, STACK, cast
from tests.support.http import ADMIN

Client = TestClient[Any, Any]
YML = "services:\n  web:\n    image: c66d-test/busybox:latest\n"


async def _container(client: Client, stack: str, name: str, state: str) -> None:
    now = time.time()
    await client.app[STORE].containers.upsert(ContainerRecord(
        id=name * 4, name=name, stack=stack, service="web", server="local", deployment=1,
        image="img", config_hash="h", address="10.66.1.5", state=state, health="",
        created_at=now, updated_at=now))


async def test_each_person_sees_only_their_stacks_and_events(client: Client) -> None:
    people = await cast(client)
    for stack in (STACK, OTHER_STACK):
        resp = await client.post("/api/v1/stacks", headers=ADMIN,
                                 json={"name": stack, "service_yml": YML})
        assert resp.status == 201
    store = client.app[STORE]
    await store.deployments.create(STACK, {"services": {}}, actor="admin")
    second = await store.deployments.create(STACK, {"services": {}}, actor="admin")
    await _container(client, STACK, "a", "healthy")
    await _container(client, STACK, "b", "crashloop")
    await _container(client, OTHER_STACK, "c", "healthy")
    client.app[EVENTS].publish("deployment.finished", stack=OTHER_STACK, number=7,
                               reason="secret-plan-of-the-other-team")
    client.app[EVENTS].publish("deployment.finished", stack=STACK, number=2, reason="ours")

    viewer = await (await client.get("/", headers=people.headers["viewer"])).text()
    assert f'href="/stacks/{STACK}"' in viewer and f'/stacks/{OTHER_STACK}"' not in viewer
    assert "1/2 healthy" in viewer
    assert f'href="/deployments/{second.id}">#2</a>' in viewer
    assert "ours" in viewer and "secret-plan-of-the-other-team" not in viewer
    assert "Builds running and queued" in viewer

    admin = await (await client.get("/", headers=ADMIN)).text()
    assert f'href="/stacks/{OTHER_STACK}"' in admin and "secret-plan-of-the-other-team" in admin

    anonymous = await (await client.get("/")).text()
    assert "<h1>Dashboard</h1>" in anonymous and "local" in anonymous  # servers: public
    assert 'href="/login"' in anonymous
    for private in (STACK, "ours", "secret-plan-of-the-other-team", "Recent events"):
        assert private not in anonymous
