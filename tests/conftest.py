"""Fixtures shared by every test: configs, an in-process app, a c66d subprocess, Docker."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiodocker
import pytest
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config, HostPort
from tests.support.hosts import host_lab, hosts, three_hosts  # noqa: F401 - fixtures
from tests.support.images import busybox_context, docker_build
from tests.support.netslots import take_slot
from tests.support.proc import C66dProcess

TEST_IMAGE = "c66d-test/busybox:latest"


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Config]:
    net = take_slot()  # a ContainerNet range, network name and port of this test's own
    yield Config(
        data_dir=tmp_path / "data",
        http=HostPort("127.0.0.1", 0),
        dns=HostPort("127.0.0.1", 0),
        admin_password="admin-password-for-tests",
        cluster_range=net.cluster_range,
        net_name=net.net_name,
        net_port=net.net_port,
    )
    net.release()


@pytest.fixture
async def client(config: Config) -> AsyncIterator[TestClient[object, object]]:
    """The whole app in-process on a free port."""
    app = create_app(config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


@pytest.fixture
def c66d(tmp_path: Path) -> Iterator[C66dProcess]:
    """A `c66d serve` subprocess on free ports (not started: call `.start()`), with a
    ContainerNet range of its own (like `config`)."""
    net = take_slot()
    proc = C66dProcess(tmp_path / "proc-data",
                       env={"C66D_ADMIN_PASSWORD": "admin-password-for-tests",
                            "C66D_CLUSTER_RANGE": net.cluster_range,
                            "C66D_NET_NAME": net.net_name, "C66D_NET_PORT": str(net.net_port)})
    yield proc
    proc.kill()
    net.release()


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The local Docker engine answers, or the test fails loudly."""
    try:
        out = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                             capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.fail("the docker CLI is not installed; run scripts/install")
    if out.returncode != 0:
        pytest.fail(f"no Docker engine answers (run scripts/install): {out.stderr.strip()}")
    return out.stdout.strip()


@pytest.fixture(scope="session")
def busybox_image(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small image FROM scratch with busybox, tagged TEST_IMAGE."""
    docker_build(busybox_context(tmp_path_factory.mktemp("busybox")), TEST_IMAGE)
    return TEST_IMAGE


@pytest.fixture
async def docker(docker_engine: str) -> AsyncIterator[aiodocker.Docker]:
    client = aiodocker.Docker()
    yield client
    await client.close()
