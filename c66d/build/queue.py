"""The build queue: FIFO workers with bounded concurrency, cancel, time limit, restarts.

A build left `running` by a c66d that died goes back to the queue, in its place, for one more
attempt (a build is idempotent: same commit, same tags); interrupted again, it fails with
RESTART_REASON. Each build runs on the engine `deps.pick_builder` chooses (builders.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

import aiohttp

from c66d.build.builders import Builder
from c66d.build.errors import BuildFailed
from c66d.build.livelog import LiveLog
from c66d.build.runner import BuildDeps, BuildResult, run_build
from c66d.build.source import build_source
from c66d.errors import Conflict
from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.store.builds import Build

RESTART_REASON = "c66d restarted during the build"
ATTEMPTS = 2  # a build interrupted by a restart runs once more
STOP_REASON = "c66d stopped during the build"
IDLE_RECHECK = 5.0  # seconds; a missed wake-up costs at most this

log = logging.getLogger("c66d.build")


def _seconds(value: float) -> str:
    return f"{value:g}"


class BuildQueue:
    def __init__(self, deps: BuildDeps, events: EventBus, *, concurrency: int,
                 timeout: float) -> None:
        self.deps = deps
        self.events = events
        self.concurrency = concurrency
        self.timeout = timeout
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.Task[BuildResult]] = {}
        self._done: dict[int, asyncio.Event] = {}
        self._cancel_reasons: dict[int, str] = {}
        self._busy = Counter[str]()  # running builds per builder server

    @property
    def running(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        retried, failed = await self.deps.store.builds.recover_interrupted(
            RESTART_REASON, attempts=ATTEMPTS)
        for build_id in retried:
            attempt = (await self.deps.store.builds.get(build_id)).attempt
            self.deps.logs.append(build_id, f"{RESTART_REASON}: queued again (attempt "
                                            f"{attempt} of {ATTEMPTS})")
        for build_id in failed:
            self.deps.logs.append(build_id, f"build failed: {RESTART_REASON} (attempt "
                                            f"{ATTEMPTS} of {ATTEMPTS})")
            self._publish("build.finished", await self.deps.store.builds.get(build_id))
        self._workers = [asyncio.create_task(self._worker(n), name=f"build-worker-{n}")
                         for n in range(self.concurrency)]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def enqueue(self, stack: str, service: str, *, ref: str = "", branch: str = "",
                      trigger: str = "api", actor: str = "") -> Build:
        """Queue a build of a git service; `branch` when it follows that branch's head."""
        src = await build_source(self.deps.store, stack, service)
        if not ref and not branch:
            branch = src.branch
        elif ref == src.branch:
            branch = ref
        queued = await self.deps.store.builds.enqueue(stack, service, ref=ref, branch=branch,
                                                      trigger=trigger, actor=actor)
        for old in queued.superseded:
            self.deps.logs.append(old, f"build cancelled: superseded by build {queued.build.id}")
            self._publish("build.finished", await self.deps.store.builds.get(old))
        self._publish("build.queued", queued.build)
        self._wake.set()
        return queued.build

    async def cancel(self, build_id: int, actor: str) -> Build:
        build = await self.deps.store.builds.get(build_id)
        if build.finished:
            raise Conflict(f"build {build_id} has finished already ({build.status})",
                           detail={"status": build.status})
        reason = f"cancelled by {actor}" if actor else "cancelled"
        if await self.deps.store.builds.cancel_queued(build_id, reason):
            self.deps.logs.append(build_id, f"build cancelled: {reason}")
            build = await self.deps.store.builds.get(build_id)
            self._publish("build.finished", build)
            return build
        task = self._running.get(build_id)
        if task is None:  # running in the store but not here: nothing to stop
            return await self.deps.store.builds.finish(build_id, "cancelled", reason=reason)
        self._cancel_reasons[build_id] = reason
        done = self._done.setdefault(build_id, asyncio.Event())
        task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 60)
        return await self.deps.store.builds.get(build_id)

    async def _worker(self, number: int) -> None:
        while True:
            self._wake.clear()
            build = await self.deps.store.builds.claim_next()
            if build is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_RECHECK)
                continue
            await self._execute(build)

    async def _execute(self, build: Build) -> None:
        blog = get_logger("c66d.build", build=build.id, stack=build.stack, service=build.service)
        live = self.deps.logs.open(build.id)
        await self.deps.store.builds.set_log_path(build.id, str(live.path))
        live.mark(f"build {build.id} of {build.stack}/{build.service} at "
                  f"{build.ref or build.branch or 'the branch head'} started")
        self._publish("build.started", build)
        status, reason, result = "failed", "", BuildResult("", "")
        try:
            builder = await self.deps.pick_builder(self._busy)
        except BuildFailed as exc:
            await self._finish(build, status, exc.message, result)
            return
        await self.deps.store.builds.set_server(build.id, builder.server)
        task = asyncio.create_task(self._run_on(builder, build, live), name=f"build-{build.id}")
        self._running[build.id] = task
        try:
            async with asyncio.timeout(self.timeout or None):
                result = await task
            status = "succeeded"
        except TimeoutError:
            reason = f"timed out after {_seconds(self.timeout)} s"
        except asyncio.CancelledError:
            if build.id not in self._cancel_reasons:  # c66d is stopping
                await self._finish(build, "failed", STOP_REASON, result)
                raise
            status, reason = "cancelled", self._cancel_reasons.pop(build.id)
        except BuildFailed as exc:
            reason = exc.message
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"the builder's Docker engine does not answer: {exc}"
        except Exception as exc:
            blog.exception("build crashed")
            reason = f"internal error: {exc}"
        await self._finish(build, status, reason, result)
        blog.info("build %s%s", status, f": {reason}" if reason else "")

    async def _run_on(self, builder: Builder, build: Build, live: LiveLog) -> BuildResult:
        self._busy[builder.server] += 1
        try:
            return await run_build(self.deps, build, live, builder)
        finally:
            self._busy[builder.server] -= 1

    async def _finish(self, build: Build, status: str, reason: str,
                      result: BuildResult) -> None:
        self._running.pop(build.id, None)
        if status == "succeeded":
            self.deps.logs.append(build.id, f"build succeeded: {result.image}@{result.digest}")
        else:
            self.deps.logs.append(build.id, f"build {status}: {reason}")
        self.deps.logs.close(build.id)
        final = await self.deps.store.builds.finish(build.id, status, reason=reason,
                                                    digest=result.digest, image=result.image)
        stack = await self.deps.store.stacks.find(build.stack)
        auto_deploy = status == "succeeded" and stack is not None and stack.auto_deploy
        self._publish("build.finished", final, auto_deploy=auto_deploy)
        self._done.pop(build.id, asyncio.Event()).set()

    def _publish(self, kind: str, build: Build, **extra: object) -> None:
        self.events.publish(
            kind, build=build.id, stack=build.stack, service=build.service, status=build.status,
            digest=build.digest, image=build.image, commit=build.commit_sha, branch=build.branch,
            reason=build.reason, trigger=build.trigger, **extra,
        )
