"""Building and pushing an image through the Docker Engine API (aiodocker).

What to build (repository, tags, build args) is decided by the pure `image_plan`; `build_image`
and `push_image` only do it, streaming every line of the engine's output to the build log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import aiodocker
import aiohttp

from c66d.build.errors import BuildFailed, NoSpace
from c66d.build.livelog import LiveLog

_STEP = re.compile(r"^Step (\d+/\d+) : (.*)$")
_RUN_EXIT = re.compile(r"returned a non-zero code: (\d+)")
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")
MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
))


@dataclass(frozen=True)
class RegistryTarget:
    """Where built images go, and the credential the engine pushes with."""

    host: str  # "127.0.0.1:8066"
    auth: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class ImagePlan:
    repository: str  # "127.0.0.1:8066/shop/web"
    tags: tuple[str, ...]  # commit first, then the branch
    dockerfile: str
    buildargs: dict[str, str] = field(repr=False)

    @property
    def image(self) -> str:
        return f"{self.repository}:{self.tags[0]}"

    @property
    def name(self) -> str:
        """The repository name inside the registry: `<stack>/<service>`."""
        return self.repository.split("/", 1)[1]


def branch_tag(branch: str) -> str:
    """A branch name as a valid image tag (`feature/x` -> `feature-x`)."""
    tag = _TAG_BAD.sub("-", branch).lstrip(".-")[:128]
    return tag


def image_plan(registry: str, stack: str, service: str, *, sha: str, branch: str,
               dockerfile: str, env: dict[str, str]) -> ImagePlan:
    """Tags: the commit, plus the branch when the build follows one. No labels: each would be
    an extra build step (a container) on the classic builder; the store keeps the links."""
    tags = [sha]
    if branch and branch_tag(branch) and branch_tag(branch) != sha:
        tags.append(branch_tag(branch))
    return ImagePlan(f"{registry}/{stack}/{service}", tuple(tags), dockerfile or "Dockerfile",
                     dict(env))


def failure_reason(message: str) -> BuildFailed:
    """The engine's error message as the build's reason."""
    message = message.strip()
    if "no space left on device" in message.lower():
        return NoSpace(f"no space left on device: {message}")
    if m := _RUN_EXIT.search(message):
        return BuildFailed(f"a RUN step failed with exit code {m.group(1)}: {message}")
    return BuildFailed(f"docker build failed: {message}")


class _BigChunks:
    """aiodocker uploads the context in reads of 8 KiB, a loop turn each: read 1 MiB instead."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle

    def read(self, size: int = -1) -> bytes:
        return self.handle.read(max(size, 1 << 20))


class _Lines:
    """Reassembles the engine's `stream` fragments into whole lines."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self.sink = sink
        self.buffer = ""

    def feed(self, text: str) -> None:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self.sink(line)

    def flush(self) -> None:
        if self.buffer:
            self.sink(self.buffer)
            self.buffer = ""


async def build_image(docker: aiodocker.Docker, context: Path, plan: ImagePlan, log: LiveLog,
                      on_step: Callable[[str], None]) -> str:
    """Build from the context tar; returns the image id. Each `Step n/m` goes to `on_step`."""
    image_id = ""

    def line(text: str) -> None:
        log.line(text)
        if m := _STEP.match(text):
            on_step(f"step {m.group(1)}: {m.group(2)}")

    lines = _Lines(line)
    try:
        with open(context, "rb") as tar:  # noqa: ASYNC230 - aiodocker reads it chunk by chunk
            stream = docker.images.build(
                fileobj=_BigChunks(tar), encoding="identity", stream=True, tag=plan.image,
                path_dockerfile=plan.dockerfile, buildargs=plan.buildargs or None,
                rm=True, forcerm=True,
            )
            async for chunk in stream:
                image_id = _take_chunk(chunk, lines) or image_id
    except aiodocker.DockerError as exc:
        lines.flush()
        message = str(exc.message) if hasattr(exc, "message") else str(exc)
        log.line(f"ERROR: {message}")
        raise failure_reason(message) from None
    lines.flush()
    if not image_id:
        raise BuildFailed("docker build ended without an image")
    for tag in plan.tags[1:]:
        await docker.images.tag(image_id, plan.repository, tag=tag)
    return image_id


def _take_chunk(chunk: dict[str, Any], lines: _Lines) -> str:
    if "stream" in chunk:
        lines.feed(str(chunk["stream"]))
    elif "status" in chunk:
        lines.feed(f"{chunk['status']}\n")
    aux = chunk.get("aux")
    if isinstance(aux, dict) and aux.get("ID"):
        return str(aux["ID"])
    return ""


async def push_image(docker: aiodocker.Docker, plan: ImagePlan, target: RegistryTarget,
                     log: LiveLog) -> str:
    """Push the commit tag through the engine, then add the other tags in the registry itself
    (one manifest PUT each instead of another `docker push`); returns the manifest digest."""
    first = plan.tags[0]
    log.mark(f"pushing {plan.repository}:{first}")
    digest = ""
    try:
        stream = docker.images.push(plan.repository, tag=first, auth=target.auth, stream=True)
        async for chunk in stream:
            digest = _push_chunk(chunk, log) or digest
    except aiodocker.DockerError as exc:
        message = str(getattr(exc, "message", exc))
        log.line(f"ERROR: {message}")
        if "no space left on device" in message.lower():
            raise NoSpace(f"no space left on device: {message}") from None
        raise BuildFailed(f"push to the registry failed: {message}") from None
    if not digest:
        raise BuildFailed("the push ended without a digest")
    for tag in plan.tags[1:]:
        await tag_manifest(target, plan.name, digest, tag)
        log.line(f"{tag}: tagged {digest}")
    return digest


async def tag_manifest(target: RegistryTarget, name: str, digest: str, tag: str) -> None:
    """Point `tag` at the manifest `digest` through the registry API (GET, then PUT)."""
    auth = {"Authorization": aiohttp.encode_basic_auth(target.auth["username"],
                                                       target.auth["password"])}
    base = f"http://{target.host}/v2/{name}/manifests"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=auth, timeout=timeout) as session:
        async with session.get(f"{base}/{digest}", headers={"Accept": MANIFEST_TYPES}) as got:
            if got.status != 200:
                raise BuildFailed(f"cannot read back {name}@{digest}: HTTP {got.status}")
            body, kind = await got.read(), got.headers.get("Content-Type", "")
        async with session.put(f"{base}/{tag}", data=body,
                               headers={"Content-Type": kind}) as put:
            if put.status not in (200, 201):
                raise BuildFailed(f"cannot tag {name}:{tag}: HTTP {put.status}"
                                  f" {(await put.text())[:200]}")


def _push_chunk(chunk: dict[str, Any], log: LiveLog) -> str:
    aux = chunk.get("aux")
    if isinstance(aux, dict) and aux.get("Digest"):
        return str(aux["Digest"])
    status = chunk.get("status")
    if status and not chunk.get("progressDetail"):  # skip byte-count progress lines
        ident = chunk.get("id")
        log.line(f"{ident}: {status}" if ident else str(status))
    return ""
