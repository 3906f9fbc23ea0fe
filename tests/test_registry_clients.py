"""The registry with the real clients: docker, skopeo and curl against a `c66d serve` process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.images import busybox_context, docker_build
from tests.support.proc import C66dProcess
from tests.support.registry import CREDS, PASSWORD, DockerCli, digest, run, skopeo, verify_tree

IMAGE_LAYERS = """RUN echo one > /one.txt
RUN head -c 300000 /dev/urandom > /random.bin
"""


@pytest.fixture(scope="module")
def registry_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[C66dProcess]:
    proc = C66dProcess(tmp_path_factory.mktemp("registry") / "data",
                       env={"C66D_ADMIN_PASSWORD": PASSWORD})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def dockercli(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> DockerCli:
    return DockerCli(tmp_path_factory.mktemp("docker-config"))


@pytest.fixture(scope="module")
def pushed(registry_proc: C66dProcess, dockercli: DockerCli, busybox_image: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A multi-layer busybox image pushed to HOST/stack/service:v1; yields that reference."""
    host = registry_proc.url.removeprefix("http://")
    ref = f"{host}/stack/service:v1"
    context = busybox_context(tmp_path_factory.mktemp("image"),
                              f"FROM {busybox_image}\n" + IMAGE_LAYERS)
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\n" + IMAGE_LAYERS)
    docker_build(context, ref)
    dockercli.login(host)
    out = dockercli("push", ref)
    assert "v1: digest: sha256:" in out.stdout
    yield ref
    dockercli("rmi", "-f", ref, f"{host}/stack/other:v1", check=False)


def test_docker_push_pull_run_and_mount_into_second_repository(
        pushed: str, dockercli: DockerCli, registry_proc: C66dProcess) -> None:
    host = registry_proc.url.removeprefix("http://")
    dockercli("rmi", pushed)
    pulled = dockercli("pull", pushed)
    assert "Downloaded newer image" in pulled.stdout
    out = dockercli("run", "--rm", pushed, "cat", "/one.txt")
    assert out.stdout.strip() == "one"
    other = f"{host}/stack/other:v1"
    dockercli("tag", pushed, other)
    out = dockercli("push", other)
    assert out.stdout.count("Mounted from stack/service") >= 3, out.stdout
    inspect = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", CREDS,
                                f"docker://{other}").stdout)
    assert inspect["RepoTags"] == ["v1"] and len(inspect["Layers"]) >= 3


def test_skopeo_copy_from_archive_and_oci_layout_and_back(
        pushed: str, dockercli: DockerCli, registry_proc: C66dProcess, tmp_path: Path) -> None:
    host = registry_proc.url.removeprefix("http://")
    archive = tmp_path / "image.tar"
    dockercli("save", "-o", str(archive), pushed)
    dest = ["--dest-creds", CREDS, "--dest-tls-verify=false"]
    skopeo("copy", *dest, f"docker-archive:{archive}", f"docker://{host}/stack/archived:a1")
    skopeo("copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'layout'}:x")
    skopeo("copy", *dest, f"oci:{tmp_path / 'layout'}:x", f"docker://{host}/stack/oci:o1")
    skopeo("copy", "--src-creds", CREDS, "--src-tls-verify=false",
           f"docker://{host}/stack/oci:o1", f"oci:{tmp_path / 'back'}:o1")
    index = json.loads((tmp_path / "back" / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = (tmp_path / "back" / "blobs" / "sha256" / manifest_digest.split(":")[1])
    assert digest(manifest.read_bytes()) == manifest_digest
    assert json.loads(manifest.read_bytes())["mediaType"] == \
        "application/vnd.oci.image.manifest.v1+json"
    auth = ["--tls-verify=false", "--creds", CREDS]
    tags = json.loads(skopeo("list-tags", *auth, f"docker://{host}/stack/oci").stdout)
    assert tags["Tags"] == ["o1"]
    skopeo("delete", *auth, f"docker://{host}/stack/oci:o1")
    tags = json.loads(skopeo("list-tags", *auth, f"docker://{host}/stack/oci").stdout)
    assert tags["Tags"] == []
    gone = skopeo("inspect", *auth, f"docker://{host}/stack/oci:o1", check=False)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr.lower()


def curl(url: str, *args: str) -> tuple[int, dict[str, str], str]:
    out = run(["curl", "-sS", "-i", "-u", f"admin:{PASSWORD}", *args, url])
    head, _, body = out.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_curl_edge_cases(registry_proc: C66dProcess, tmp_path: Path) -> None:
    base = registry_proc.url + "/v2/stack/curl"
    data = tmp_path / "blob"
    data.write_bytes(b"x" * 1000 + b"y" * 1000)
    blob = digest(data.read_bytes())
    status, _, body = curl(f"{base}/blobs/uploads/?digest={digest(b'other')}", "-X", "POST",
                           "-H", "Content-Type: application/octet-stream",
                           "--data-binary", f"@{data}")
    assert status == 400 and "DIGEST_INVALID" in body
    status, headers, _ = curl(f"{base}/blobs/uploads/", "-X", "POST")
    location = registry_proc.url + headers["location"]
    status, headers, _ = curl(location, "-X", "PATCH", "-H", "Content-Range: 0-999",
                              "-H", "Content-Type: application/octet-stream",
                              "--data-binary", "x" * 1000)
    assert status == 202 and headers["range"] == "0-999"
    status, headers, _ = curl(location, "-X", "PATCH", "-H", "Content-Range: 1500-1999",
                                 "--data-binary", "y" * 500)
    assert status == 416 and headers["range"] == "0-999"
    status, _, _ = curl(f"{location}?digest={blob}", "-X", "PUT",
                        "-H", "Content-Range: 1000-1999", "--data-binary", "y" * 1000)
    assert status == 201
    status, headers, body = curl(f"{base}/blobs/{blob}", "-H", "Range: bytes=998-1001")
    assert status == 206 and body == "xxyy" and headers["content-range"] == "bytes 998-1001/2000"
    status, _, _ = curl(f"{base}/blobs/{blob}", "-H", "Range: bytes=5000-6000")
    assert status == 416
    status, _, body = curl(f"{base}/blobs/{digest(b'unknown')}")
    assert status == 404 and json.loads(body)["errors"][0]["code"] == "BLOB_UNKNOWN"
    schema1 = json.dumps({"schemaVersion": 1, "name": "stack/curl", "tag": "v1",
                          "fsLayers": [{"blobSum": blob}], "history": []})
    status, _, body = curl(f"{base}/manifests/v1", "-X", "PUT", "-H",
                           "Content-Type: application/vnd.docker.distribution.manifest.v1+json",
                           "--data-binary", schema1)
    assert status == 400 and "MANIFEST_INVALID" in body and "schema 1" in body


def test_push_killed_halfway_then_c66d_killed_and_restarted(
        c66d: C66dProcess, dockercli: DockerCli, busybox_image: str, tmp_path: Path) -> None:
    context = busybox_context(tmp_path / "big")
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\nRUN head -c 80000000 /dev/urandom > /big.bin\n")
    docker_build(context, "c66d-test/big:latest")
    try:
        _killed_push_then_retry(c66d, dockercli)
    finally:
        dockercli("rmi", "-f", "c66d-test/big:latest", check=False)


def _start_push(c66d: C66dProcess, dockercli: DockerCli) -> tuple[str, subprocess.Popen[str]]:
    host = c66d.url.removeprefix("http://")
    ref = f"{host}/stack/big:v1"
    dockercli("tag", "c66d-test/big:latest", ref)
    dockercli.login(host)
    push = subprocess.Popen(["docker", "--config", str(dockercli.config_dir), "push", ref],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return ref, push


def _killed_push_then_retry(c66d: C66dProcess, dockercli: DockerCli) -> None:
    c66d.start()
    ref, push = _start_push(c66d, dockercli)
    uploads = c66d.data_dir / "registry" / "uploads"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and push.poll() is None:
        if any(p.stat().st_size > 4_000_000 for p in uploads.iterdir()):
            break
        time.sleep(0.02)
    assert push.poll() is None, "the push finished before it could be interrupted"
    assert c66d.proc is not None
    c66d.proc.kill()  # SIGKILL, mid-upload
    c66d.proc.wait()
    push.kill()
    push.communicate()
    dockercli("rmi", ref)
    assert verify_tree(c66d.data_dir / "registry") >= 0
    c66d.start()
    status, _, body = curl(c66d.url + "/v2/stack/big/manifests/v1")
    assert status == 404 and "MANIFEST_UNKNOWN" in body  # nothing of the interrupted push
    ref, push = _start_push(c66d, dockercli)
    out, _ = push.communicate(timeout=240)
    assert push.returncode == 0, out
    dockercli("rmi", ref)
    dockercli("pull", ref)
    assert dockercli("run", "--rm", ref, "wc", "-c", "/big.bin").stdout.split()[0] == "80000000"
    dockercli("rmi", ref)
    assert verify_tree(c66d.data_dir / "registry") == 5  # 3 layers, config, manifest


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for pid {pid}")


async def test_big_blob_streams_with_flat_memory(registry_proc: C66dProcess) -> None:
    block, blocks = os.urandom(1 << 20), 256
    hasher = hashlib.sha256()
    for _ in range(blocks):
        hasher.update(block)
    blob = "sha256:" + hasher.hexdigest()
    assert registry_proc.proc is not None
    pid = registry_proc.proc.pid
    before = _rss(pid, "VmRSS")

    async def body() -> AsyncIterator[bytes]:
        for _ in range(blocks):
            yield block

    headers = {"Authorization": aiohttp.encode_basic_auth("admin", PASSWORD)}
    async with aiohttp.ClientSession(registry_proc.url, headers=headers) as http:
        resp = await http.post("/v2/stack/big/blobs/uploads/")
        location = resp.headers["Location"]
        resp = await http.patch(location, data=body())
        assert resp.status == 202 and resp.headers["Range"] == f"0-{blocks * len(block) - 1}"
        resp = await http.put(f"{location}?digest={blob}")
        assert resp.status == 201, await resp.text()
        received = hashlib.sha256()
        async with http.get(f"/v2/stack/big/blobs/{blob}") as resp:
            async for chunk in resp.content.iter_chunked(1 << 20):
                received.update(chunk)
        assert "sha256:" + received.hexdigest() == blob
    grown = _rss(pid, "VmHWM") - before
    assert grown < 48 << 20, f"c66d grew by {grown >> 20} MB for a {blocks} MB blob"
