"""Stacks through /api/v1: create from a service.yml, refuse a bad one whole, variables, scale."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient

from c66d.config import Config
from tests.support.http import ADMIN

SHOP = """\
services:
  web:
    image: c66d-test/busybox:latest
    ports: ["8000:80"]
    requires: [worker]
    constraints: {max_count: 3}
    env_vars: {DB: _env(DATABASE_URL)}
  worker:
    image: c66d-test/busybox:latest
"""


async def test_create_read_update_delete(client: TestClient[object, object]) -> None:
    resp = await client.post("/api/v1/stacks", json={"name": "shop", "service_yml": SHOP},
                             headers=ADMIN)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert [s["name"] for s in body["services"]] == ["worker", "web"]
    assert body["services"][1]["count"] == 1 and body["hook_url"].endswith("/api/v1/hooks/shop")

    resp = await client.post("/api/v1/stacks", json={"name": "shop", "service_yml": SHOP},
                             headers=ADMIN)
    assert resp.status == 409

    listed = await (await client.get("/api/v1/stacks", headers=ADMIN)).json()
    assert [s["name"] for s in listed["items"]] == ["shop"]

    new_yml = SHOP.replace("max_count: 3", "max_count: 5")
    resp = await client.put("/api/v1/stacks/shop", json={"service_yml": new_yml}, headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["services"][1]["max_count"] == 5

    assert (await client.delete("/api/v1/stacks/shop", headers=ADMIN)).status == 204
    resp = await client.get("/api/v1/stacks/shop", headers=ADMIN)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"


async def test_bad_service_file_refused_whole(client: TestClient[object, object]) -> None:
    bad = "services:\n  web:\n    image: x\n    ports: [nope]\n  db:\n    requires: [web]\n"
    resp = await client.post("/api/v1/stacks", json={"name": "shop", "service_yml": bad},
                             headers=ADMIN)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "SERVICE_FILE_INVALID"
    assert {(d["path"], d["line"]) for d in error["detail"]} == {
        ("services.web.ports", 4), ("services.db", 5)}
    assert (await client.get("/api/v1/stacks/shop", headers=ADMIN)).status == 404

    await client.post("/api/v1/stacks", json={"name": "shop", "service_yml": SHOP}, headers=ADMIN)
    resp = await client.put("/api/v1/stacks/shop", json={"service_yml": bad}, headers=ADMIN)
    assert resp.status == 400
    kept = await (await client.get("/api/v1/stacks/shop", headers=ADMIN)).json()
    assert kept["service_yml"] == SHOP

    resp = await client.post("/api/v1/stacks", json={"name": "Shop!", "service_yml": SHOP},
                             headers=ADMIN)
    assert resp.status == 400 and "lowercase" in (await resp.json())["error"]["message"]


async def test_scale_is_bounded_by_max_count(client: TestClient[object, object]) -> None:
    await client.post("/api/v1/stacks", json={"name": "shop", "service_yml": SHOP}, headers=ADMIN)
    resp = await client.post("/api/v1/stacks/shop/services/web/scale", json={"count": 3},
                             headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["count"] == 3
    resp = await client.post("/api/v1/stacks/shop/services/web/scale", json={"count": 4},
                             headers=ADMIN)
    assert resp.status == 400 and "at most 3" in (await resp.json())["error"]["message"]
    resp = await client.post("/api/v1/stacks/shop/services/nope/scale", json={"count": 1},
                             headers=ADMIN)
    assert resp.status == 404
    resp = await client.post("/api/v1/stacks/shop/services/web/scale", json={"count": "2"},
                             headers=ADMIN)
    assert resp.status == 400
    view = await (await client.get("/api/v1/stacks/shop", headers=ADMIN)).json()
    assert {s["name"]: s["count"] for s in view["services"]} == {"web": 3, "worker": 1}


async def test_secret_variables_masked_and_sealed_at_rest(
    client: TestClient[object, object], config: Config
) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    await client.post("/api/v1/stacks", json={
        "name": "shop", "service_yml": SHOP,
        "env": [{"name": "DATABASE_URL", "value": secret, "secret": True},
                {"name": "MODE", "value": "prod"}],
    }, headers=ADMIN)
    resp = await client.get("/api/v1/stacks/shop/env", headers=ADMIN)
    text = await resp.text()
    assert secret not in text
    assert (await resp.json())["variables"] == [
        {"name": "DATABASE_URL", "value": "***", "secret": True},
        {"name": "MODE", "value": "prod", "secret": False},
    ]
    # Sending the mask back keeps the stored secret; the rest is replaced.
    resp = await client.put("/api/v1/stacks/shop/env", json={"variables": [
        {"name": "DATABASE_URL", "value": "***", "secret": True},
        {"name": "MODE", "value": "staging"}]}, headers=ADMIN)
    assert resp.status == 200
    for path in Path(config.data_dir).glob("c66d.db*"):
        assert secret.encode() not in path.read_bytes(), f"secret found in {path.name}"
    resp = await client.put("/api/v1/stacks/shop/env", json={"variables": [{"value": "x"}]},
                            headers=ADMIN)
    assert resp.status == 400


async def test_anonymous_is_refused(client: TestClient[object, object]) -> None:
    assert (await client.get("/api/v1/stacks")).status == 401
    resp = await client.post("/api/v1/stacks", json={"name": "shop", "service_yml": SHOP})
    assert resp.status == 401


async def test_lists_show_only_stacks_the_caller_may_read(
    client: TestClient[object, object]
) -> None:
    from tests.support.auth import PASSWORD, add_team, add_user
    from tests.support.http import basic

    for name in ("shop", "blog"):
        resp = await client.post("/api/v1/stacks", headers=ADMIN,
                                 json={"name": name, "service_yml": SHOP})
        assert resp.status == 201
    await add_user(client, "vera")  # type: ignore[arg-type]
    await add_team(client, "blog-viewers", "viewer", ["vera"], ["blog"])  # type: ignore[arg-type]
    vera = basic("vera", PASSWORD)
    listed = await (await client.get("/api/v1/stacks", headers=vera)).json()
    assert [s["name"] for s in listed["items"]] == ["blog"]
    assert (await client.get("/api/v1/stacks/shop", headers=vera)).status == 403
    assert (await client.get("/api/v1/containers?stack=shop", headers=vera)).status == 200
