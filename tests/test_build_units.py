"""Pure parts of BuildGrid: image plans, tags, failure reasons, log following."""

from __future__ import annotations

import asyncio
from pathlib import Path

from c66d.build.engine import branch_tag, failure_reason, image_plan
from c66d.build.errors import NoSpace
from c66d.build.livelog import BuildLogs
from c66d.build.runner import uses_ssh


def test_image_plan_tags_commit_then_branch() -> None:
    plan = image_plan("127.0.0.1:8066", "shop", "web", sha="a" * 40, branch="feature/x",
                      dockerfile="", env={"TOKEN": "t"})
    assert plan.repository == "127.0.0.1:8066/shop/web"
    assert plan.tags == ("a" * 40, "feature-x")
    assert (plan.image, plan.name, plan.dockerfile) == (
        f"127.0.0.1:8066/shop/web:{'a' * 40}", "shop/web", "Dockerfile")
    pinned = image_plan("h:1", "shop", "web", sha="b" * 40, branch="", dockerfile="d/Dockerfile",
                        env={})
    assert pinned.tags == ("b" * 40,)
    assert branch_tag(".hidden/feat@1") == "hidden-feat-1"


def test_failure_reasons_name_the_cause() -> None:
    run = failure_reason("The command '/bin/sh -c exit 3' returned a non-zero code: 3")
    assert run.message.startswith("a RUN step failed with exit code 3")
    full = failure_reason("write /var/lib/docker/tmp/x: no space left on device")
    assert isinstance(full, NoSpace)
    assert failure_reason("unknown instruction: FORM").message == (
        "docker build failed: unknown instruction: FORM")


def test_ssh_urls_are_recognised() -> None:
    assert uses_ssh("ssh://git@example.com/acme/app.git")
    assert uses_ssh("git@github.com:acme/app.git")
    assert not uses_ssh("https://github.com/acme/app.git")
    assert not uses_ssh("/srv/git/app")
    assert not uses_ssh("file:///srv/git/app")


async def test_a_follower_gets_what_was_written_then_each_new_line(tmp_path: Path) -> None:
    logs = BuildLogs(tmp_path)
    live = logs.open(7)
    live.line("before")
    got: list[bytes] = []

    async def follow() -> None:
        async for chunk in logs.stream(7):
            got.append(chunk)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    live.line("after")
    logs.close(7)
    await asyncio.wait_for(task, 5)
    assert b"".join(got) == b"before\nafter\n"
    assert await logs.whole(7) == b"before\nafter\n"
    assert [c async for c in logs.stream(7)] == [b"before\nafter\n"]
