"""The OpenAPI document at /api/v1/openapi.json matches what the server does: every /api/v1
route is in it, and every documented operation exists and answers; each GET, as the admin on a
deployed stack, answers with its documented success status; every operation that takes a JSON
body refuses a bad one (not JSON, not an object, fields of the wrong type) with a 4xx in the error
envelope, never a 500."""

from __future__ import annotations

import json
import string
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from c66d.keys import STORE
from c66d.web.openapi import api_routes
from tests.support.http import ADMIN
from tests.support.registry import V2
from tests.support.stacks import delete_stack, unique, wait_deployment

Client = TestClient[Any, Any]
YML = """\
services:
  web:
    image: {image}
    command: sh -c 'echo hello from web; exec sleep 3600'
    stop_grace: 1s
"""
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
async def deployed(client: Client, busybox_image: str) -> AsyncIterator[dict[str, str]]:
    """A stack deployed on the local engine, a build, an image: values for path parameters."""
    stack = unique("oas")
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": stack, "service_yml": YML.format(image=busybox_image)})
    assert resp.status == 201, await resp.text()
    try:
        resp = await client.post(f"/api/v1/stacks/{stack}/deployments", headers=ADMIN)
        deployment = await wait_deployment(client, (await resp.json())["id"])
        assert deployment["status"] == "succeeded", deployment
        resp = await client.get(f"/api/v1/containers?stack={stack}", headers=ADMIN)
        container = (await resp.json())["items"][0]
        build = await client.app[STORE].builds.enqueue(stack, "web", ref="main")
        await V2(client).push_image(f"{stack}/web", "v1", [b"layer"])
        resp = await client.post("/api/v1/tokens", headers=ADMIN, json={"name": "walk"})
        token = (await resp.json())["info"]["id"]
        resp = await client.post("/api/v1/teams", headers=ADMIN, json={
            "name": "walkers", "role": "viewer", "members": [], "stacks": [stack]})
        assert resp.status == 201, await resp.text()
        yield {"stack": stack, "service": "web", "deployment": str(deployment["id"]),
               "build": str(build.build.id), "container": container["id"], "server": "local",
               "name": f"{stack}/web", "tag": "v1", "user": "admin", "token": str(token),
               "team": "walkers"}
    finally:
        await delete_stack(client, stack)


def fill(template: str, values: dict[str, str]) -> str:
    """A real path for a documented template: `{id}` means a build, a deployment, a container
    or a token depending on where it appears."""
    kind = ("build" if "/builds/" in template else "deployment" if "/deployments/" in template
            else "container" if "/containers/" in template else "token")
    names = {n for _, n, _, _ in string.Formatter().parse(template) if n}
    params = {n: values[kind] if n == "id" else values.get(n, "missing") for n in names}
    return template.format_map(params)


async def test_every_route_is_documented_and_every_get_answers(
        client: Client, deployed: dict[str, str]) -> None:
    resp = await client.get("/api/v1/openapi.json")  # public, like /status
    assert resp.status == 200
    document = await resp.json()
    assert document["openapi"].startswith("3.1")
    documented = {(m.upper(), path) for path, ops in document["paths"].items()
                  for m in ops if m in METHODS}
    served = {(m, t) for m, t, _ in api_routes(client.app)}
    assert served - documented == set(), "routes missing from the document"
    assert documented - served == set(), "documented operations the server does not have"

    wrong = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["x-c66d-access"] in ("public", "user", "read", "deploy", "stack_admin",
                                           "admin"), (method, path)
            assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == {
                n for _, n, _, _ in string.Formatter().parse(path) if n}
            if method != "get":
                continue
            want = int(next(code for code in op["responses"] if code != "default"))
            got = await status_of(client, fill(path, deployed))
            if got != want:
                wrong.append(f"GET {path}: {got}, documented {want}")
    assert not wrong, "\n".join(wrong)


async def status_of(client: Client, path: str) -> int:
    """The status of a GET; streams (logs, events) are closed once the status is in."""
    timeout = aiohttp.ClientTimeout(total=20)
    async with client.get(path, headers=ADMIN, timeout=timeout) as resp:
        return resp.status


async def test_documented_paging_and_bodies_match_the_handlers(client: Client) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    stacks = document["paths"]["/api/v1/stacks"]
    assert {p["name"] for p in stacks["get"]["parameters"]} >= {"limit", "cursor"}
    assert stacks["post"]["responses"].keys() >= {"201", "default"}
    assert "service_yml" in stacks["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]
    assert stacks["post"]["security"] and "security" not in document["paths"][
        "/api/v1/status"]["get"]
    log = document["paths"]["/api/v1/containers/{id}/log"]["get"]
    assert "text/plain" in log["responses"]["200"]["content"]
    # the error envelope every non-success answer uses
    resp = await client.get("/api/v1/stacks/nope", headers=ADMIN)
    body = await resp.json()
    schema = document["components"]["schemas"]["Error"]
    assert resp.status == 404 and set(body) == set(schema["required"])
    assert set(schema["properties"]["error"]["required"]) <= set(body["error"])


WRONG_TYPE: dict[str, Any] = {"string": 12345, "integer": "many", "number": "far",
                              "boolean": "yes", "array": 7, "object": "flat"}
# Bodies that are not what an operation takes; each must be refused in the error envelope.
BAD_BODIES: dict[str, Any] = {"not JSON": b"{not json", "a JSON array": b"[1, 2]",
                              "a JSON string": b'"text"'}


@pytest.fixture
async def created(client: Client) -> AsyncIterator[dict[str, str]]:
    """A stack (not deployed), a queued build, an image, a token, a team, a user."""
    stack = unique("oasbad")
    resp = await client.post("/api/v1/stacks", headers=ADMIN, json={
        "name": stack, "service_yml": YML.format(image="c66d-test/busybox")})
    assert resp.status == 201, await resp.text()
    try:
        build = await client.app[STORE].builds.enqueue(stack, "web", ref="main")
        await V2(client).push_image(f"{stack}/web", "v1", [b"layer"])
        resp = await client.post("/api/v1/tokens", headers=ADMIN, json={"name": "bad"})
        token = (await resp.json())["info"]["id"]
        for path, body in (("/api/v1/teams", {"name": "bad-walkers", "role": "viewer",
                                              "members": [], "stacks": [stack]}),
                           ("/api/v1/users", {"name": "walker"})):
            resp = await client.post(path, headers=ADMIN, json=body)
            assert resp.status == 201, await resp.text()
        yield {"stack": stack, "service": "web", "build": str(build.build.id),
               "server": "local", "name": f"{stack}/web", "tag": "v1", "user": "walker",
               "token": str(token), "team": "bad-walkers", "deployment": "1", "container": "x"}
    finally:
        await delete_stack(client, stack)


async def refusal(client: Client, method: str, path: str, body: bytes) -> tuple[int, Any]:
    resp = await client.request(method, path, data=body, headers={
        **ADMIN, "Content-Type": "application/json"})
    try:
        answer = await resp.json(content_type=None)
    except ValueError:
        answer = await resp.text()
    return resp.status, answer


def envelope_problem(status: int, answer: Any, *, may_succeed: bool) -> str | None:
    """Why an answer to a bad body is wrong, or None: a 4xx (not 404/405: the operation
    exists) in the one error envelope; `may_succeed` allows 2xx (an empty object can be
    a complete request, e.g. a rollback to the last good deployment)."""
    if may_succeed and status < 300:
        return None
    if not 400 <= status < 500 or status in (404, 405):
        return f"answered {status}: {str(answer)[:200]}"
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict) or not error.get("code") or not error.get("message"):
        return f"{status} without the error envelope: {str(answer)[:200]}"
    return None


async def test_every_operation_refuses_a_bad_body_in_the_error_envelope(
        client: Client, created: dict[str, str]) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    wrong: list[str] = []
    bodied = [(path, method, op) for path, ops in document["paths"].items()
              for method, op in ops.items() if method in METHODS and "requestBody" in op]
    assert len(bodied) >= 15, "operations that take a JSON body are documented with it"
    for path, method, op in bodied:
        target = fill(path, created)
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        mistyped = {k: WRONG_TYPE[v["type"]] for k, v in schema["properties"].items()}
        cases: dict[str, bytes] = {**BAD_BODIES, "every field of the wrong type": json.dumps(
            mistyped).encode()}
        cases.update({f"{k} of the wrong type": json.dumps({k: v}).encode()
                      for k, v in mistyped.items()})
        for what, body in cases.items():
            problem = envelope_problem(*await refusal(client, method.upper(), target, body),
                                       may_succeed=False)
            if problem:
                wrong.append(f"{method.upper()} {path} with {what}: {problem}")
        problem = envelope_problem(*await refusal(client, method.upper(), target, b"{}"),
                                   may_succeed=True)
        if problem:
            wrong.append(f"{method.upper()} {path} with {{}}: {problem}")
    hook = fill("/api/v1/hooks/{stack}", created)  # public: a payload nobody signed
    for what, body in BAD_BODIES.items():
        problem = envelope_problem(*await refusal(client, "POST", hook, body), may_succeed=False)
        if problem:
            wrong.append(f"POST {hook} with {what}: {problem}")
    assert not wrong, "\n".join(wrong)
