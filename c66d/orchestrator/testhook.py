"""A pause point for crash tests: C66DTEST_PAUSE_AT=ACTION[:SERVICE] holds every rollout right
after it records that step (e.g. `start:web`, `healthy`), so a test can kill c66d there.

Read from the environment only by tests; unset, it costs one dict lookup per step.
"""

from __future__ import annotations

import asyncio
import logging
import os

ENV = "C66DTEST_PAUSE_AT"
log = logging.getLogger("c66d.rollout")


def pauses_at(action: str, service: str, setting: str | None) -> bool:
    if not setting:
        return False
    want, _, want_service = setting.partition(":")
    return want == action and (not want_service or want_service == service)


async def maybe_pause(action: str, service: str) -> None:
    """Sleep until cancelled when the test hook names this step."""
    if pauses_at(action, service, os.environ.get(ENV)):
        log.warning("paused after step %s %s (%s)", action, service, ENV)
        await asyncio.Event().wait()
