"""Lists through /api/v1: each shows only stacks the caller may read, pages with `?limit=&cursor=`
to the end without gaps or repeats, and refuses bad paging in the one error envelope."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient

from c66d.keys import STORE
from c66d.store import ContainerRecord, Store
from tests.support.auth import OTHER_STACK, PASSWORD, STACK, add_team, add_user, cast
from tests.support.http import ADMIN, basic
from tests.support.registry import V2

Client = TestClient[Any, Any]
YML = "services:\n  web:\n    image: c66d-test/busybox:latest\n"


async def make_stack(client: Client, name: str) -> None:
    resp = await client.post("/api/v1/stacks", json={"name": name, "service_yml": YML},
                             headers=ADMIN)
    assert resp.status == 201, await resp.text()


def container(stack: str, n: int, server: str = "ghost") -> ContainerRecord:
    """A record on a server c66d does not know, so no reconciler acts on it."""
    now = time.time()
    return ContainerRecord(id=f"{stack}{n:02d}".ljust(64, "0"), name=f"{stack}-web-{n}",
                           stack=stack, service="web", server=server, deployment=1,
                           image="img", config_hash="h", address="", state="running",
                           health="healthy", created_at=now, updated_at=now)


async def seed(store: Store, stacks: list[str], *, per_stack: int = 3) -> None:
    """Builds, registry repositories and container records of each stack, straight in the store
    (they only need to be listed here, not to run)."""
    for stack in stacks:
        for n in range(per_stack):
            await store.builds.enqueue(stack, "nothing-to-build", ref=f"v{n}")
            await store.registry.ensure_repo(f"{stack}/app{n}")
            await store.containers.upsert(container(stack, n))


async def seed_people(client: Client) -> dict[str, tuple[str, int]]:
    """Three users, three teams, four tokens of everyone's, three locked-out names; the lists
    that show them, with the field they sort by and how many there are (audit entries too)."""
    for name in ("ann", "bob", "cy"):
        await add_user(client, name)
        await add_team(client, f"team-{name}", "viewer", [name], [f"s{len(name)}"])
    for name in ("ci", "cd", "bot"):
        resp = await client.post("/api/v1/tokens", json={"name": name}, headers=ADMIN)
        assert resp.status == 201
    resp = await client.post("/api/v1/tokens", json={"name": "mine"},
                             headers=basic("ann", PASSWORD))
    assert resp.status == 201
    for name in ("lock-a", "lock-b", "lock-c"):
        for _ in range(5):
            resp = await client.get("/api/v1/me", headers=basic(name, "wrong"))
            assert resp.status == 401
    return {"/api/v1/users": ("name", 4), "/api/v1/teams": ("name", 3),
            "/api/v1/tokens?user=*": ("id", 4), "/api/v1/tokens": ("id", 3),
            "/api/v1/lockouts": ("key", 3)}


async def get(client: Client, path: str, headers: dict[str, str], status: int = 200) -> Any:
    resp = await client.get(path, headers=headers)
    body = await resp.json()
    assert resp.status == status, (path, resp.status, body)
    return body


async def walk(client: Client, path: str, headers: dict[str, str], limit: int,
               key: str = "items") -> list[Any]:
    """Every item of a list, page by page (bounded)."""
    found: list[Any] = []
    cursor = ""
    sep = "&" if "?" in path else "?"
    for _ in range(100):
        body = await get(client, f"{path}{sep}limit={limit}&cursor={cursor}", headers)
        assert len(body[key]) <= limit
        found.extend(body[key])
        if body["next"] is None:
            return found
        cursor = body["next"]
    raise AssertionError(f"{path} never ended")


async def test_stackless_lists_show_only_stacks_the_caller_may_read(client: Client) -> None:
    people = await cast(client)  # viewer, deployer, stack admin of STACK; a global admin
    for name in (STACK, OTHER_STACK):
        await make_stack(client, name)
    await seed(client.app[STORE], [STACK, OTHER_STACK])
    await add_user(client, "olga")
    await add_team(client, "elsewhere-viewers", "viewer", ["olga"], [OTHER_STACK])
    olga = basic("olga", PASSWORD)
    for who, headers, stacks in (("viewer", people.headers["viewer"], {STACK}),
                                 ("olga", olga, {OTHER_STACK}),
                                 ("admin", people.headers["admin"], {STACK, OTHER_STACK})):
        builds = await walk(client, "/api/v1/builds", headers, limit=2)
        assert {b["stack"] for b in builds} == stacks, who
        assert len(builds) == 3 * len(stacks), who  # pages hold readable builds, none lost
        repos = await walk(client, "/api/v1/registry/repositories", headers, limit=2)
        assert {r["name"].split("/")[0] for r in repos} == stacks, who
        assert len(repos) == 3 * len(stacks)
        catalog = await get(client, "/v2/_catalog", headers)
        assert {r.split("/")[0] for r in catalog["repositories"]} == stacks, who
        paged = await get(client, "/v2/_catalog?n=1", headers)
        assert len(paged["repositories"]) == 1 and paged["repositories"][0].split("/")[0] in stacks
        containers = await walk(client, "/api/v1/containers", headers, limit=2)
        assert {c["stack"] for c in containers} == stacks, who
        listed = await walk(client, "/api/v1/stacks", headers, limit=1)
        assert {s["name"] for s in listed} == stacks, who
    # asking for a stack one may not read: nothing (lists) or refused (builds names it)
    assert (await get(client, f"/api/v1/containers?stack={OTHER_STACK}",
                      people.headers["viewer"]))["items"] == []
    assert (await get(client, f"/api/v1/registry/repositories?stack={OTHER_STACK}",
                      people.headers["viewer"]))["items"] == []
    await get(client, f"/api/v1/builds?stack={OTHER_STACK}", people.headers["viewer"], 403)


async def test_every_list_pages_to_the_end_in_order(client: Client) -> None:
    store = client.app[STORE]
    names = [f"s{i}" for i in range(5)]
    for name in names:
        await make_stack(client, name)
    await seed(store, names, per_stack=2)
    for _ in range(5):
        await store.deployments.create("s0", {"images": {}, "counts": {}}, actor="test")
    v2 = V2(client)
    for tag in ("a", "b", "c", "d"):
        await v2.push_image("s0/tagged", tag, [b"layer"])
    people = await seed_people(client)
    lists = {
        "/api/v1/stacks": ("name", 5),
        "/api/v1/stacks/s0/deployments": ("number", 5),
        "/api/v1/builds": ("id", 10),
        "/api/v1/containers": ("id", 10),
        "/api/v1/servers": ("name", 1),
        "/api/v1/registry/repositories": ("name", 11),
        "/api/v1/registry/repositories/s0/tagged/tags": ("tag", 4),
        # five stacks, the first admin, three users, three teams, four tokens
        "/api/v1/audit": ("id", 16),
        **people,
    }
    for path, (field, count) in lists.items():
        whole = await get(client, f"{path}{'&' if '?' in path else '?'}limit=500", ADMIN)
        assert whole["next"] is None, path
        assert len(whole["items"]) == count, (path, len(whole["items"]))
        for limit in (1, 2, 3):
            walked = await walk(client, path, ADMIN, limit)
            assert [i[field] for i in walked] == [i[field] for i in whole["items"]], (path, limit)
    deployments = await get(client, "/api/v1/stacks/s0/deployments?limit=2", ADMIN)
    assert [d["number"] for d in deployments["items"]] == [5, 4]  # newest first


async def test_bad_paging_answers_in_the_error_envelope(client: Client) -> None:
    for path in ("/api/v1/stacks?limit=0", "/api/v1/builds?limit=x",
                 "/api/v1/containers?cursor=nonsense", "/api/v1/builds?cursor=abc",
                 "/api/v1/stacks?limit=100000", "/api/v1/tokens?cursor=x",
                 "/api/v1/lockouts?cursor=x", "/api/v1/users?limit=-1",
                 "/api/v1/stacks/s/deployments?cursor=x"):
        body = await get(client, path, ADMIN, 400)
        assert body["error"]["code"] == "INVALID" and body["error"]["message"], path
        assert body["error"]["detail"]["param"] in ("limit", "cursor"), path
    body = await get(client, "/api/v1/nowhere", ADMIN, 404)
    assert body["error"]["code"] == "NOT_FOUND"
    resp = await client.delete("/api/v1/status", headers=ADMIN)
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "UNSUPPORTED"
