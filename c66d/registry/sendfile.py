"""Blob bodies through the kernel's sendfile(2), whatever the event loop.

aiohttp's FileResponse uses `loop.sendfile`, which uvloop (what `c66d serve` runs on) does not
implement, so it would copy every byte through Python. Here, once the headers are on the wire
and the transport's buffer is empty, a worker thread calls os.sendfile on the socket (still
non-blocking; the thread waits for POLLOUT itself) until the body is sent.
"""

from __future__ import annotations

import asyncio
import os
import select
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

STALL_TIMEOUT = 120.0  # seconds a client may stop reading before the download is dropped


def senders() -> ThreadPoolExecutor:
    """The pool downloads run in (apart from the default one, which hashing uses)."""
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="c66d-sendfile")


def _send_all(out_fd: int, path: Path, size: int) -> None:
    poller = select.poll()
    poller.register(out_fd, select.POLLOUT)
    with open(path, "rb") as handle:
        offset = 0
        while offset < size:
            try:
                sent = os.sendfile(out_fd, handle.fileno(), offset, size - offset)
            except BlockingIOError:
                if not poller.poll(STALL_TIMEOUT * 1000):
                    raise TimeoutError("client stopped reading") from None
                continue
            if sent == 0:
                raise ConnectionResetError("blob shrank or client went away")
            offset += sent


async def _buffer_empty(transport: asyncio.BaseTransport) -> bool:
    for _ in range(200):
        if getattr(transport, "get_write_buffer_size", lambda: 1)() == 0:
            return True
        await asyncio.sleep(0.005)
    return False


async def send_blob(request: web.Request, path: Path, size: int, headers: dict[str, str],
                    pool: ThreadPoolExecutor) -> web.StreamResponse:
    """A 200 answer with the whole file as body (no Range: FileResponse handles those)."""
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    writer = await response.prepare(request)
    transport = request.transport
    if request.method == "HEAD" or size == 0 or writer is None or transport is None:
        await response.write_eof()
        return response
    writer.send_headers()
    sock = transport.get_extra_info("socket")
    if sock is None or not await _buffer_empty(transport):
        await _copy(response, path, size)
        return response
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(pool, _send_all, sock.fileno(), path, size)
    except OSError:
        transport.close()  # the body is cut short: the connection cannot be reused
        return response
    await response.write_eof()
    return response


async def _copy(response: web.StreamResponse, path: Path, size: int) -> None:
    """Fallback: read in a thread, write through aiohttp."""
    with open(path, "rb") as handle:  # noqa: ASYNC230 - reads happen in the executor below
        remaining = size
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
            await response.write(chunk)
    await response.write_eof()
