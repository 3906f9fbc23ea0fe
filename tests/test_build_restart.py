"""Builds survive a restart of c66d: queued ones still run, a running one runs once more, then
fails with why."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiodocker
import aiohttp
import pytest

from c66d.build.queue import RESTART_REASON, STOP_REASON
from tests.support.gitrepo import make_repo, service_yml, wait_build, wait_log
from tests.support.http import ADMIN, ADMIN_PASSWORD
from tests.support.proc import C66dProcess

SLEEPY = "RUN echo sleeping-$((1+1)) && sleep 60\n"


@pytest.fixture
def proc(tmp_path: Path, docker_engine: str) -> Iterator[C66dProcess]:
    process = C66dProcess(tmp_path / "data", env={"C66D_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                                  "C66D_BUILD_CONCURRENCY": "1"})
    yield process
    process.kill()


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, str]) -> int:
    async with session.post(url, json=body, headers=ADMIN) as resp:
        assert resp.status == 201, await resp.text()
        return int((await resp.json()).get("id", 0))


async def _remove_images(ports: list[int]) -> None:
    docker = aiodocker.Docker()
    try:
        for image in await docker.images.list():
            for tag in image.get("RepoTags") or []:
                if any(tag.startswith(f"127.0.0.1:{port}/") for port in ports):
                    await docker.images.delete(tag, force=True)
    finally:
        await docker.close()


async def _wait_count(session: aiohttp.ClientSession, url: str, build: int, text: str,
                      count: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(f"{url}/api/v1/builds/{build}/log", headers=ADMIN) as resp:
            log = await resp.text()
        if log.count(text) >= count:
            return log
        assert time.monotonic() < deadline, f"{text!r} not {count} times in the log:\n{log}"
        await asyncio.sleep(0.2)


async def test_restart_retries_the_running_build_once_and_runs_the_queued_one(
        proc: C66dProcess, tmp_path: Path) -> None:
    slow = make_repo(tmp_path / "slow", dockerfile_extra=SLEEPY)
    quick = make_repo(tmp_path / "quick")
    ports: list[int] = []
    async with aiohttp.ClientSession() as session:
        url = proc.start().url
        ports.append(int(url.rsplit(":", 1)[1]))
        for name, repo in (("slow", slow), ("quick", quick)):
            yml = service_yml({"web": {"git_url": repo.url, "git_branch": "main"}})
            await _post(session, f"{url}/api/v1/stacks", {"name": name, "service_yml": yml})
        running = await _post(session, f"{url}/api/v1/builds", {"stack": "slow", "service": "web"})
        await wait_log(session, url, running, "sleeping-2", headers=ADMIN)
        queued = await _post(session, f"{url}/api/v1/builds", {"stack": "quick", "service": "web"})

        proc.kill()  # a crash: no chance to clean up
        url = proc.start().url
        ports.append(int(url.rsplit(":", 1)[1]))
        log = await _wait_count(session, url, running, "sleeping-2", 2)  # it runs again, first
        assert f"{RESTART_REASON}: queued again (attempt 2 of 2)" in log
        async with session.get(f"{url}/api/v1/builds/{running}", headers=ADMIN) as resp:
            again = await resp.json()
        assert (again["status"], again["attempt"], again["server"]) == ("running", 2, "local")
        async with session.get(f"{url}/api/v1/builds/{queued}", headers=ADMIN) as resp:
            assert (await resp.json())["status"] == "queued"

        proc.kill()  # interrupted twice: it fails, with why
        url = proc.start().url
        ports.append(int(url.rsplit(":", 1)[1]))
        crashed = await wait_build(session, url, running, headers=ADMIN, timeout=10)
        assert (crashed["status"], crashed["reason"]) == ("failed", RESTART_REASON)
        async with session.get(f"{url}/api/v1/builds/{running}/log", headers=ADMIN) as resp:
            assert (await resp.text()).splitlines()[-1].endswith(
                f"{RESTART_REASON} (attempt 2 of 2)")
        done = await wait_build(session, url, queued, headers=ADMIN)
        assert done["status"] == "succeeded", done["reason"]

        stopped = await _post(session, f"{url}/api/v1/builds", {"stack": "slow", "service": "web"})
        await wait_log(session, url, stopped, "sleeping-2", headers=ADMIN)
        assert proc.stop() == 0  # a clean stop ends the build with its own reason
        url = proc.start().url
        ports.append(int(url.rsplit(":", 1)[1]))
        ended = await wait_build(session, url, stopped, headers=ADMIN, timeout=10)
        assert (ended["status"], ended["reason"]) == ("failed", STOP_REASON)
        proc.stop()
    await _remove_images(ports)
