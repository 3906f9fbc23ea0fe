"""Registry test helpers: an HTTP client speaking /v2/, content builders, docker/skopeo runners."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

PASSWORD = "admin-password-for-tests"
CREDS = f"admin:{PASSWORD}"
AUTH = {"Authorization": aiohttp.encode_basic_auth("admin", PASSWORD)}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(data: bytes, media_type: str = "application/octet-stream") -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data)}


def image_manifest(config: bytes, layers: list[bytes], *, subject: bytes | None = None,
                   artifact_type: str | None = None, media_type: str = OCI_MANIFEST,
                   annotations: dict[str, str] | None = None) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": media_type,
        "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [descriptor(layer, "application/vnd.oci.image.layer.v1.tar") for layer in layers],
    }
    if subject is not None:
        doc["subject"] = descriptor(subject, OCI_MANIFEST)
    if artifact_type:
        doc["artifactType"] = artifact_type
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc).encode()


def index_manifest(children: list[bytes]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [descriptor(c, OCI_MANIFEST) for c in children]}).encode()


@dataclass
class V2:
    """A thin /v2/ client over any aiohttp-like session whose paths are relative."""

    http: Any  # aiohttp TestClient, or a ClientSession with base_url

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        extra = kwargs.pop("headers", {})
        headers = [*AUTH.items(), *(extra.items() if isinstance(extra, dict) else extra)]
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def push_blob(self, repo: str, data: bytes) -> str:
        resp = await self.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}",
                                  data=data)
        assert resp.status == 201, await resp.text()
        return digest(data)

    async def push_manifest(self, repo: str, ref: str, body: bytes,
                            media_type: str = OCI_MANIFEST) -> Any:
        return await self.request("PUT", f"/v2/{repo}/manifests/{ref}", data=body,
                                  headers={"Content-Type": media_type})

    async def push_image(self, repo: str, tag: str, layers: list[bytes],
                         config: bytes = b'{"os":"linux"}') -> bytes:
        for blob in [config, *layers]:
            await self.push_blob(repo, blob)
        body = image_manifest(config, layers)
        resp = await self.push_manifest(repo, tag, body)
        assert resp.status == 201, await resp.text()
        return body

    async def error_code(self, resp: Any) -> str:
        body = await resp.json(content_type=None)
        return str(body["errors"][0]["code"])


def run(args: list[str], *, timeout: float = 240, check: bool = True,
        env: dict[str, str] | None = None, input_text: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run a client command; a failure shows its stderr."""
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                             input=input_text)
    except FileNotFoundError:
        pytest.fail(f"{args[0]} is not installed; run scripts/install")
    if check and out.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


@dataclass
class DockerCli:
    """The docker CLI with its own config dir (its login does not touch ~/.docker)."""

    config_dir: Path

    def __call__(self, *args: str, check: bool = True, timeout: float = 240,
                 input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(["docker", "--config", str(self.config_dir), *args], check=check,
                   timeout=timeout, input_text=input_text)

    def login(self, host: str) -> None:
        self("login", "-u", "admin", "--password-stdin", host, input_text=PASSWORD)


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["skopeo", *args], check=check)


def verify_tree(blob_root: Path) -> int:
    """Every file in the content-addressed tree hashes to its name; returns how many."""
    count = 0
    tree = blob_root / "sha256"
    for path in tree.glob("*/*"):
        hasher = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                hasher.update(block)
        assert hasher.hexdigest() == path.name, f"partial or corrupt blob visible: {path}"
        count += 1
    return count
