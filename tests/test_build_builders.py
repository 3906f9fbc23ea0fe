"""Which server's engine builds: dedicated builders first, least busy, `local` as the fallback."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.build.builders import Candidate, choose_builder, no_builder
from c66d.config import Config, HostPort
from c66d.keys import STORE, Listeners
from tests.support.gitrepo import add_stack, finished, make_repo, start_build
from tests.support.hosts import Host, free_port, wait_server
from tests.support.http import ADMIN

LOCAL = Candidate("local", ("builder", "app"), True)


def test_local_builds_when_it_is_the_only_builder() -> None:
    app_only = Candidate("web1", ("app",), True)
    assert choose_builder([LOCAL, app_only], {}) == "local"


def test_a_dedicated_builder_takes_builds_off_the_local_engine() -> None:
    b1, b2 = Candidate("b1", ("builder",), True), Candidate("b2", ("builder",), True)
    assert choose_builder([LOCAL, b2, b1], {}) == "b1"
    assert choose_builder([LOCAL, b1, b2], {"b1": 1}) == "b2"
    assert choose_builder([LOCAL, b1, b2], {"b1": 2, "b2": 1}) == "b2"


def test_down_builders_are_passed_over_and_none_left_says_why() -> None:
    down = Candidate("b1", ("builder",), False)
    assert choose_builder([LOCAL, down], {}) == "local"
    local_down = Candidate("local", ("builder", "app"), False)
    assert choose_builder([local_down, down], {}) is None
    assert no_builder([local_down, down]).message == "no builder server is up (builders: b1, local)"
    assert "no server has the builder role" in no_builder([Candidate("a", ("app",), True)]).message


async def test_a_builder_server_builds_and_pushes_through_its_tunnel(
        config: Config, hosts: list[Host], tmp_path: Path) -> None:
    port = free_port()
    app = create_app(config, Listeners(http=HostPort("127.0.0.1", port)))
    builder = hosts[0]
    async with TestClient(TestServer(app, host="127.0.0.1", port=port)) as client:
        resp = await client.get("/api/v1/servers/key", headers=ADMIN)
        builder.authorize((await resp.json())["public_key"])
        spec = {**builder.server_spec(), "roles": ["builder"]}
        resp = await client.post("/api/v1/servers", json=spec, headers=ADMIN)
        assert resp.status == 201, await resp.text()
        await wait_server(client, builder.name, "up", registry_tunnel=port)
        repo = make_repo(tmp_path / "src")
        await add_stack(client, repo)
        build = await finished(client, await start_build(client))
        assert build["status"] == "succeeded", build["reason"]
        assert build["server"] == builder.name
        log = await (await client.get(f"/api/v1/builds/{build['id']}/log", headers=ADMIN)).text()
        assert f"on server {builder.name}" in log
        image = f"127.0.0.1:{port}/shop/web:{repo.head()}"
        assert image in builder.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
        assert [t.digest for t in await app[STORE].registry.tags("shop/web")
                if t.tag == repo.head()] == [build["digest"]]
