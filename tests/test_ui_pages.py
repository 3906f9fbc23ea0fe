"""UI forms without a browser: role checks and CSRF on every new form, inline service.yml
errors, masked secrets, people management, and the event stream's per-stack filter."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from c66d.keys import EVENTS, STORE
from tests.support.auth import PASSWORD, STACK, add_team, add_user, api, cast
from tests.support.http import ADMIN_PASSWORD, basic
from tests.test_auth_ui import page_csrf, sign_in

Client = TestClient[Any, Any]
YML = "services:\n  web:\n    image: busybox:test\n    ports: [\"8000\"]\n"


async def make_stack(client: Client, name: str = STACK) -> None:
    await api(client, "POST", "/api/v1/stacks", json={"name": name, "service_yml": YML},
              status=201)


async def test_forms_are_refused_without_the_role_as_the_api_is(client: Client) -> None:
    people = await cast(client)
    await make_stack(client)
    forms = [("/stacks/shop/deploy", "deploy"), ("/stacks/shop/rollback", "deploy"),
             ("/stacks/shop/services/web/scale", "deploy"),
             ("/stacks/shop/service-yml", "stack_admin"), ("/stacks/shop/env", "stack_admin"),
             ("/stacks/shop/delete", "stack_admin"), ("/stacks", "admin"),
             ("/servers", "admin"), ("/admin/users", "admin"), ("/admin/teams", "admin")]
    ranks = ["viewer", "deployer", "stack_admin", "admin"]
    first = {"deploy": 1, "stack_admin": 2, "admin": 3}
    for path, needs in forms:
        for person in ranks[:first[needs]]:
            resp = await client.post(path, data={"count": "1"}, headers=people.headers[person],
                                     allow_redirects=False)
            assert resp.status == 403, (path, person, resp.status)
            assert "text/html" in resp.headers["Content-Type"]
    page = await (await client.get("/stacks/shop", headers=people.headers["viewer"])).text()
    assert "Deploy now" not in page and "Save service.yml" not in page and "<pre>" in page
    page = await (await client.get("/stacks/shop", headers=people.headers["deployer"])).text()
    assert "Deploy now" in page and "Save service.yml" not in page and "Secret" not in page


async def test_a_signed_in_form_needs_the_csrf_token(client: Client) -> None:
    await make_stack(client)
    await sign_in(client, "admin", ADMIN_PASSWORD)
    token = await page_csrf(client, "/stacks/shop")
    yml = YML.replace("8000", "9000")
    for sent in ({}, {"csrf_token": "wrong"}):
        resp = await client.post("/stacks/shop/service-yml", data={"service_yml": yml, **sent})
        assert resp.status == 403 and "CSRF" in await resp.text()
    assert "9000" not in (await api(client, "GET", "/api/v1/stacks/shop"))["service_yml"]
    resp = await client.post("/stacks/shop/service-yml",
                             data={"service_yml": yml, "csrf_token": token})
    assert resp.status == 200 and resp.url.path == "/stacks/shop"
    assert "9000" in (await api(client, "GET", "/api/v1/stacks/shop"))["service_yml"]


async def test_a_bad_service_yml_is_shown_with_key_paths_and_lines(client: Client) -> None:
    await sign_in(client, "admin", ADMIN_PASSWORD)
    token = await page_csrf(client, "/stacks")
    bad = "services:\n  web:\n    image: x\n    ports: [\"99999\"]\n    restart_on_deploy: maybe\n"
    resp = await client.post("/stacks", data={"name": "shop", "service_yml": bad,
                                              "csrf_token": token})
    text = await resp.text()
    assert resp.status == 400 and 'role="alert"' in text
    assert "line 4" in text and "<code>services.web.ports" in text
    assert "line 5" in text and "services.web.restart_on_deploy" in text
    assert "maybe" in text  # the text typed is kept in the editor
    assert (await client.get("/stacks/shop")).status == 404


async def test_variables_form_keeps_secrets_masked_and_unchanged(client: Client) -> None:
    await make_stack(client)
    await api(client, "PUT", "/api/v1/stacks/shop/env", json={"variables": [
        {"name": "TOKEN", "value": "s3cret-value-xyz", "secret": True},
        {"name": "MODE", "value": "prod"}]})
    await sign_in(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/stacks/shop")).text()
    assert "s3cret-value-xyz" not in page and 'value="***"' in page
    token = await page_csrf(client, "/stacks/shop")
    resp = await client.post("/stacks/shop/env", data={
        "csrf_token": token, "name-001": "TOKEN", "value-001": "***", "secret-001": "on",
        "name-002": "MODE", "value-002": "staging", "name-003": "", "value-003": "x"})
    assert resp.status == 200
    variables = (await api(client, "GET", "/api/v1/stacks/shop/env"))["variables"]
    assert sorted(variables, key=lambda v: v["name"]) == [
        {"name": "MODE", "value": "staging", "secret": False},
        {"name": "TOKEN", "value": "***", "secret": True}]
    assert await client.app[STORE].stacks.env("shop") == {"MODE": "staging",
                                                          "TOKEN": "s3cret-value-xyz"}


async def test_admin_manages_users_teams_and_tokens_in_pages(client: Client) -> None:
    await sign_in(client, "admin", ADMIN_PASSWORD)
    token = await page_csrf(client, "/admin/users")
    resp = await client.post("/admin/users", data={"name": "ola", "csrf_token": token})
    text = await resp.text()
    assert resp.status == 200 and 'class="new-token">' in text
    generated = text.split('class="new-token">')[1].split("<")[0]
    resp = await client.post("/admin/teams", data={
        "name": "ops", "role": "deployer", "members": "ola", "stacks": "shop, web2",
        "csrf_token": token})
    assert resp.status == 200
    team = (await api(client, "GET", "/api/v1/teams/ops"))["team"]
    assert team == {"name": "ops", "role": "deployer", "members": ["ola"],
                    "stacks": ["shop", "web2"]}
    resp = await client.post("/admin/teams", data={
        "name": "ghosts", "role": "viewer", "members": "nobody", "csrf_token": token})
    assert resp.status == 404 and "nobody" in await resp.text()
    assert "ghosts" not in [t["name"] for t in (await api(client, "GET", "/api/v1/teams"))["items"]]
    me = await api(client, "GET", "/api/v1/me", headers=basic("ola", generated))
    assert me["roles"] == {"shop": "deploy", "web2": "deploy"}
    resp = await client.post("/admin/users/ola", data={"admin-field": "1", "admin": "on",
                                                       "csrf_token": token})
    assert (await api(client, "GET", "/api/v1/users/ola"))["user"]["admin"] is True
    resp = await client.post("/admin/teams/ops/delete", data={"csrf_token": token})
    assert resp.status == 200 and 'aria-label="team ops"' not in await resp.text()
    resp = await client.post("/admin/users/ola/delete", data={"csrf_token": token})
    assert resp.status == 200 and "<strong>ola</strong>" not in await resp.text()
    await api(client, "GET", "/api/v1/users/ola", status=404)


async def read_events(client: Client, headers: dict[str, str], count: int) -> list[Any]:
    found: list[Any] = []
    async with client.get("/api/v1/events?kinds=deployment.", headers=headers) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        while len(found) < count:
            line = await asyncio.wait_for(resp.content.readline(), 5)
            if line.startswith(b"data: "):
                found.append(json.loads(line[6:]))
    return found


async def test_event_stream_shows_only_readable_stacks(client: Client) -> None:
    await add_user(client, "vera")
    await add_team(client, "viewers", "viewer", ["vera"], [STACK])
    vera = basic("vera", PASSWORD)
    reader = asyncio.create_task(read_events(client, vera, 2))
    await asyncio.sleep(0.3)
    bus = client.app[EVENTS]
    bus.publish("deployment.started", stack="elsewhere", deployment=1)
    bus.publish("build.started", stack=STACK, build=1)  # not asked for
    bus.publish("deployment.started", stack=STACK, deployment=2)
    bus.publish("deployment.finished", stack="elsewhere", deployment=1)
    bus.publish("deployment.finished", stack=STACK, deployment=2, status="succeeded")
    got = await asyncio.wait_for(reader, 10)
    assert [(e["kind"], e["stack"]) for e in got] == [
        ("deployment.started", STACK), ("deployment.finished", STACK)]
    assert (await client.get("/api/v1/events?stack=elsewhere", headers=vera)).status == 403
    assert (await client.get("/api/v1/events")).status == 401
