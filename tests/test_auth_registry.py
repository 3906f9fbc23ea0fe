"""Registry sign-in like Docker's token auth: the challenge, /v2/token, docker login/push/pull."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.auth import internal_pull_token
from c66d.config import Config
from tests.support.auth import PASSWORD, STACK, add_team, add_user, bearer
from tests.support.http import ADMIN, ADMIN_PASSWORD, basic
from tests.support.proc import C66dProcess

Client = TestClient[Any, Any]
Done = subprocess.CompletedProcess[str]


async def _token(client: Client, scope: str, headers: dict[str, str] | None = None) -> Any:
    resp = await client.get("/v2/token", params={"service": "c66d", "scope": scope},
                            headers=headers or {})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["token"] == body["access_token"] and body["expires_in"] > 60
    return body


def _actions(body: dict[str, Any]) -> list[str]:
    """The actions a token grants, read from its signed payload as the registry does."""
    payload = body["token"].removeprefix("c66r.").split(".")[0]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return [a for entry in data["access"] for a in entry["actions"]]


async def test_v2_challenges_and_token_endpoint_grants_by_role(client: Client) -> None:
    resp = await client.get("/v2/")
    assert resp.status == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="http://127.0.0.1:{client.port}/v2/token"')
    assert 'service="c66d"' in challenge
    resp = await client.get(f"/v2/{STACK}/web/tags/list")
    assert resp.status == 401
    assert f'scope="repository:{STACK}/web:pull"' in resp.headers["WWW-Authenticate"]
    resp = await client.post(f"/v2/{STACK}/web/blobs/uploads/")
    assert f'scope="repository:{STACK}/web:pull,push"' in resp.headers["WWW-Authenticate"]

    await add_user(client, "vera")
    await add_user(client, "dan")
    await add_team(client, "viewers", "viewer", ["vera"], [STACK])
    await add_team(client, "deployers", "deployer", ["dan"], [STACK])
    scope = f"repository:{STACK}/web:pull,push"
    assert _actions(await _token(client, scope, basic("vera", PASSWORD))) == ["pull"]
    assert _actions(await _token(client, scope, basic("dan", PASSWORD))) == ["pull", "push"]
    assert _actions(await _token(client, "repository:other/web:pull",
                                 basic("dan", PASSWORD))) == []
    assert _actions(await _token(client, scope)) == []  # anonymous
    bad = await client.get("/v2/token", headers=basic("dan", "wrong-password"))
    assert bad.status == 401 and "errors" in await bad.json()

    token = (await _token(client, scope, basic("vera", PASSWORD)))["token"]
    resp = await client.get("/v2/", headers=bearer(token))
    assert resp.status == 200 and resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert (await client.get(f"/v2/{STACK}/web/tags/list", headers=bearer(token))).status == 404
    resp = await client.post(f"/v2/{STACK}/web/blobs/uploads/", headers=bearer(token))
    assert resp.status == 403 and (await resp.json())["errors"][0]["code"] == "DENIED"
    # Basic works on /v2/ too, with a password or an API token
    assert (await client.get("/v2/", headers=basic("vera", PASSWORD))).status == 200
    forged = token[:-4] + "AAAA"
    resp = await client.get("/v2/", headers=bearer(forged))
    assert resp.status == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_anonymous_pull_only_when_turned_on(config: Config) -> None:
    app = create_app(config.replace(registry_anonymous_pull=True))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get(f"/v2/{STACK}/web/tags/list")).status == 404  # not 401
        body = await _token(client, f"repository:{STACK}/web:pull,push")
        assert _actions(body) == ["pull"]
        assert (await client.get("/v2/", headers=bearer(body["token"]))).status == 200
        resp = await client.post(f"/v2/{STACK}/web/blobs/uploads/")
        assert resp.status == 401


async def test_internal_pull_token_pulls_everything_and_pushes_nothing(client: Client) -> None:
    token = internal_pull_token(client.app)
    for headers in (bearer(token), basic("c66d-internal", token)):
        assert (await client.get("/v2/any/thing/tags/list", headers=headers)).status == 404
        resp = await client.post("/v2/any/thing/blobs/uploads/", headers=headers)
        assert resp.status == 403
    # a registry token is no API credential
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401


# docker CLI against a `c66d serve` subprocess -----------------------------------------------

def _http(proc: C66dProcess, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(proc.url + path, data=data, method=method,
                                 headers={**ADMIN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _docker(config_dir: Path, *args: str, stdin: str | None = None) -> Done:
    return subprocess.run(["docker", "--config", str(config_dir), *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def _login(config_dir: Path, host: str, user: str, password: str) -> Done:
    return _docker(config_dir, "login", host, "-u", user, "--password-stdin", stdin=password)


def test_docker_login_push_and_pull_follow_roles(c66d: C66dProcess, busybox_image: str,
                                                 tmp_path: Path) -> None:
    c66d.start()
    host = c66d.url.removeprefix("http://")
    for name in ("vera", "dan"):
        _http(c66d, "POST", "/api/v1/users", {"name": name, "password": PASSWORD})
    _http(c66d, "POST", "/api/v1/teams",
          {"name": "viewers", "role": "viewer", "members": ["vera"], "stacks": [STACK]})
    _http(c66d, "POST", "/api/v1/teams",
          {"name": "deployers", "role": "deployer", "members": ["dan"], "stacks": [STACK]})
    ours, theirs = f"{host}/{STACK}/app:1", f"{host}/elsewhere/app:1"
    cfg = {n: tmp_path / f"docker-{n}" for n in ("admin", "vera", "dan", "bad")}
    try:
        wrong = _login(cfg["bad"], host, "dan", "wrong-password")
        assert wrong.returncode != 0 and "unauthorized" in wrong.stderr.lower()
        assert _login(cfg["admin"], host, "admin", ADMIN_PASSWORD).returncode == 0
        for name in ("vera", "dan"):
            done = _login(cfg[name], host, name, PASSWORD)
            assert done.returncode == 0, done.stderr
            assert "Login Succeeded" in done.stdout

        for ref in (ours, theirs):
            subprocess.run(["docker", "tag", busybox_image, ref], check=True, timeout=30)
        pushed = _docker(cfg["dan"], "push", ours)
        assert pushed.returncode == 0, pushed.stderr
        refused = _docker(cfg["vera"], "push", ours)
        assert refused.returncode != 0 and "denied" in refused.stderr.lower()
        refused = _docker(cfg["dan"], "push", theirs)
        assert refused.returncode != 0 and "denied" in refused.stderr.lower()
        assert _docker(cfg["admin"], "push", theirs).returncode == 0

        subprocess.run(["docker", "rmi", ours, theirs], capture_output=True, timeout=30)
        pulled = _docker(cfg["vera"], "pull", ours)
        assert pulled.returncode == 0, pulled.stderr
        refused = _docker(cfg["vera"], "pull", theirs)
        assert refused.returncode != 0
        assert "denied" in refused.stderr.lower() or "unauthorized" in refused.stderr.lower()
        anonymous = _docker(cfg["bad"], "pull", theirs)
        assert anonymous.returncode != 0
    finally:
        subprocess.run(["docker", "rmi", ours, theirs], capture_output=True, timeout=30)
    audit = _http(c66d, "GET", "/api/v1/audit?action=team.")
    assert {e["target"] for e in audit["items"]} == {"viewers", "deployers"}
    assert c66d.stop() == 0
