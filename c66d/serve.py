"""`c66d serve`: bind, start, print what listens where, stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys

from aiohttp import web

from c66d import __version__
from c66d.app import create_app
from c66d.config import Config, HostPort
from c66d.datadir import DataDir, DataDirLock
from c66d.keys import Listeners
from c66d.logs import setup_logging

log = logging.getLogger("c66d")

SHUTDOWN_TIMEOUT = 5.0


def bind_http(where: HostPort) -> socket.socket:
    family = socket.AF_INET6 if ":" in where.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((where.host, where.port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def run(config: Config) -> None:
    sock = bind_http(config.http)
    listeners = Listeners(http=HostPort(config.http.host, sock.getsockname()[1]))
    app = create_app(config, listeners)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT,
                           access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.SockSite(runner, sock, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await site.start()
        print(f"c66d {__version__} serving from {config.data_dir.resolve()}", flush=True)
        print(f"  http:     {listeners.base_url()}/  (UI, /api/v1, registry /v2/)", flush=True)
        print(f"  dns:      {listeners.dns} (udp+tcp)", flush=True)
        print("  stop:     Ctrl-C or SIGTERM", flush=True)
        log.info("started; http=%s dns=%s", listeners.http, listeners.dns)
        await stop.wait()
        log.info("stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        log.info("stopped")


def serve(config: Config) -> int:
    data_dir = DataDir(config.data_dir)
    data_dir.create()
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        setup_logging(config.log_level, data_dir.logs)
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is optional
            asyncio.run(run(config))
        else:
            uvloop.run(run(config))
    except OSError as exc:
        print(f"c66d: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            lock.release()
    return 0
