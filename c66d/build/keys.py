"""BuildGrid's app keys."""

from __future__ import annotations

from aiohttp import web

from c66d.build.livelog import BuildLogs
from c66d.build.queue import BuildQueue

BUILD_QUEUE = web.AppKey("build_queue", BuildQueue)
BUILD_LOGS = web.AppKey("build_logs", BuildLogs)
