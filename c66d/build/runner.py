"""One build, start to end: fetch the commit, build the image, push it, link it to the commit."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiodocker

from c66d.build.builders import Builder, BuilderPicker
from c66d.build.deploykeys import key_files
from c66d.build.engine import RegistryTarget, build_image, image_plan, push_image
from c66d.build.gitsource import GitRunner, Mirrors, describe, export_context
from c66d.build.livelog import BuildLogs, LiveLog
from c66d.build.source import BuildSource, build_source
from c66d.store import Store
from c66d.store.builds import Build

_SCP_LIKE = re.compile(r"^[^/:@]+@[^/:]+:")


@dataclass(frozen=True)
class BuildResult:
    digest: str
    image: str


@dataclass
class BuildDeps:
    """Everything a build touches, so a build needs no app."""

    store: Store
    logs: BuildLogs
    mirrors: Mirrors
    work_dir: Path
    keys_dir: Path
    pick_builder: BuilderPicker  # the engine to build on; a fresh client per build (cancel)
    registry: Callable[[str], RegistryTarget]  # repository name -> where and how to push


def uses_ssh(url: str) -> bool:
    return url.startswith("ssh://") or bool(_SCP_LIKE.match(url))


async def _fetch(deps: BuildDeps, build: Build, src: BuildSource, log: LiveLog) -> Path:
    """Fetch the commit, record it on the build, export its tree; returns the context tar."""
    key = await key_files(deps.store, deps.keys_dir, build.stack) if uses_ssh(src.git_url) \
        else None
    git = GitRunner(log.line, key)
    branch = build.branch or src.branch
    context = deps.work_dir / f"{build.id}.tar"
    async with deps.mirrors.lock(src.git_url):
        log.mark(f"fetching {build.ref or branch} from {src.git_url}")
        mirror, sha = await deps.mirrors.fetch(git, src.git_url, build.ref, branch)
        commit = await describe(git, mirror, sha, branch)
        await deps.store.builds.set_commit(build.id, sha=sha, branch=branch,
                                           message=commit.message, author=commit.author)
        subject = commit.message.splitlines()[0] if commit.message else ""
        log.mark(f"commit {sha[:12]} by {commit.author}: {subject}")
        await asyncio.to_thread(deps.work_dir.mkdir, parents=True, exist_ok=True)
        await export_context(git, mirror, sha, src.build_root, src.dockerfile, context)
    return context


async def run_build(deps: BuildDeps, build: Build, log: LiveLog,
                    builder: Builder) -> BuildResult:
    """Raises BuildFailed (or a subclass) with the reason when a step fails."""
    src = await build_source(deps.store, build.stack, build.service)
    await deps.store.builds.set_step(build.id, "fetching source")
    context = await _fetch(deps, build, src, log)
    try:
        fresh = await deps.store.builds.get(build.id)
        target = deps.registry(f"{build.stack}/{build.service}")
        plan = image_plan(target.host, build.stack, build.service, sha=fresh.commit_sha,
                          branch=build.branch, dockerfile=src.dockerfile, env=src.buildargs)
        await deps.store.builds.set_step(build.id, "building")
        log.mark(f"building {plan.image} with {src.dockerfile} on server {builder.server}")

        def on_step(step: str) -> None:
            log.step = step

        docker = aiodocker.Docker(url=builder.docker_url)
        try:
            await build_image(docker, context, plan, log, on_step)
            await deps.store.builds.set_step(build.id, "pushing")
            log.step = "pushing"
            digest = await push_image(docker, plan, target, log)
        finally:
            await docker.close()  # closing the connection is what stops the engine's build
    finally:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(context.unlink)
    registry = getattr(deps.store, "registry", None)
    if registry is not None:
        await registry.link_build(plan.name, digest, build.id, fresh.commit_sha)
    log.mark(f"pushed {plan.repository}@{digest} as {', '.join(plan.tags)}")
    return BuildResult(digest, plan.image)
