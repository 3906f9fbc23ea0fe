"""Typed application keys: the shared state every subsystem hangs off the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from c66d.config import Config, HostPort
from c66d.datadir import DataDir
from c66d.events import EventBus
from c66d.store import Store

StatusProbe = Callable[[], Awaitable[dict[str, Any]]]

CONFIG = web.AppKey("config", Config)
DATA_DIR = web.AppKey("data_dir", DataDir)
STORE = web.AppKey("store", Store)
EVENTS = web.AppKey("events", EventBus)
STATUS_PROBES = web.AppKey("status_probes", dict[str, StatusProbe])


@dataclass
class Listeners:
    """Where the HTTP and DNS listeners really are, port 0 resolved; filled in at start."""

    http: HostPort | None = None
    dns: HostPort | None = None

    def base_url(self) -> str:
        return f"http://{self.http}" if self.http else ""


LISTENERS = web.AppKey("listeners", Listeners)
