"""Real git repositories made by the tests: a Dockerfile FROM scratch with busybox, commits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config, HostPort
from c66d.keys import LISTENERS
from tests.support.http import ADMIN, ADMIN_PASSWORD
from tests.support.images import BUSYBOX, DOCKERFILE

FINAL = ("succeeded", "failed", "cancelled")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.test",
    "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.test",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}


@dataclass
class GitRepo:
    path: Path

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        out = subprocess.run(["git", "-C", str(self.path), *args], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    def write(self, name: str, text: str | bytes) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


def make_repo(folder: Path, dockerfile_extra: str = "", branch: str = "main",
              files: dict[str, str] | None = None) -> GitRepo:
    """A repository whose first commit builds a busybox image FROM scratch."""
    folder.mkdir(parents=True, exist_ok=True)
    repo = GitRepo(folder)
    repo.git("init", "-q", "-b", branch)
    shutil.copy2(BUSYBOX, folder / "busybox")
    repo.write("Dockerfile", DOCKERFILE + dockerfile_extra)
    repo.write("version.txt", "1\n")
    for name, text in (files or {}).items():
        repo.write(name, text)
    repo.commit("First version")
    return repo


# Driving BuildGrid through its API ---------------------------------------------------------

def service_yml(services: dict[str, dict[str, str]]) -> str:
    """A service.yml with the given git services, e.g. {"web": {"git_url": ..., ...}}."""
    lines = ["services:"]
    for name, keys in services.items():
        lines.append(f"  {name}:")
        lines.extend(f"    {key}: {value!r}" for key, value in keys.items())
    return "\n".join(lines) + "\n"


async def wait_build(session: Any, url: str, build_id: int, *, until: tuple[str, ...] = FINAL,
                     timeout: float = 120.0, headers: dict[str, str] | None = None
                     ) -> dict[str, Any]:
    """Poll `GET /api/v1/builds/{id}` until its status is one of `until` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(f"{url}/api/v1/builds/{build_id}", headers=headers) as resp:
            body: dict[str, Any] = await resp.json()
        if body.get("status") in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"build {build_id} still {body.get('status')} after {timeout}s")
        await asyncio.sleep(0.2)


async def wait_log(session: Any, url: str, build_id: int, text: str, *,
                   timeout: float = 60.0, headers: dict[str, str] | None = None) -> str:
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(f"{url}/api/v1/builds/{build_id}/log", headers=headers) as resp:
            log = await resp.text()
        if text in log:
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the log of build {build_id}:\n{log}")
        await asyncio.sleep(0.2)


@dataclass
class GitSshServer:
    """A real sshd on loopback serving the test's repositories to keys in `authorized_keys`."""

    port: int
    authorized_keys: Path
    proc: subprocess.Popen[bytes]

    def url(self, repo: GitRepo) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{repo.path}"

    def authorize(self, public_key: str) -> None:
        with self.authorized_keys.open("a") as handle:
            handle.write(public_key.strip() + "\n")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_sshd(folder: Path, address: str = "127.0.0.1") -> GitSshServer:
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                   check=True, timeout=30)
    authorized = folder / "authorized_keys"
    authorized.write_text("")
    with socket.socket() as probe:
        probe.bind((address, 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null", "-p", str(port), "-h", str(host_key),
         "-o", f"ListenAddress={address}", "-o", f"AuthorizedKeysFile={authorized}",
         "-o", "StrictModes=no", "-o", "PidFile=none", "-o", "UsePAM=no",
         "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s, contextlib.suppress(OSError):
            s.connect((address, port))
            return GitSshServer(port, authorized, proc)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sshd did not start")


# In-process c66d for build tests ------------------------------------------------------

Client = TestClient[Any, Any]
MakeGrid = Callable[..., Awaitable[Client]]


@contextlib.asynccontextmanager
async def grid_factory(tmp_path: Path) -> AsyncIterator[MakeGrid]:
    """Start c66d in-process with setting changes; images it built are removed afterwards."""
    clients: list[Client] = []

    async def make(**changes: Any) -> Client:
        config = Config(data_dir=tmp_path / f"data{len(clients)}", http=HostPort("127.0.0.1", 0),
                        dns=HostPort("127.0.0.1", 0), admin_password=ADMIN_PASSWORD, **changes)
        app = create_app(config)
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        app[LISTENERS].http = HostPort("127.0.0.1", client.port)  # the builder pushes here
        clients.append(client)
        return client

    yield make
    docker = aiodocker.Docker()
    try:
        for client in clients:
            await client.close()
            prefix = f"127.0.0.1:{client.port}/"
            for image in await docker.images.list():
                for tag in image.get("RepoTags") or []:
                    if tag.startswith(prefix):
                        await docker.images.delete(tag, force=True)
    finally:
        await docker.close()


async def add_stack(client: Client, repo: GitRepo, name: str = "shop",
                    **keys: str) -> None:
    yml = service_yml({"web": {"git_url": repo.url, "git_branch": "main", **keys}})
    resp = await client.post("/api/v1/stacks", json={"name": name, "service_yml": yml},
                             headers=ADMIN)
    assert resp.status == 201, await resp.text()


async def start_build(client: Client, ref: str = "", stack: str = "shop") -> int:
    resp = await client.post("/api/v1/builds", json={"stack": stack, "service": "web",
                                                     "ref": ref}, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def finished(client: Client, build_id: int, **kw: Any) -> dict[str, Any]:
    return await wait_build(client.session, base(client), build_id, headers=ADMIN, **kw)


def base(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


async def skopeo_digest(client: Client, reference: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "skopeo", "inspect", "--tls-verify=false", "--creds", f"admin:{ADMIN_PASSWORD}",
        f"docker://127.0.0.1:{client.port}/{reference}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return str(json.loads(out)["Digest"])
