"""Commands on a node of the overlay: local processes on the c66d host, SSH on servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from c66d.errors import Unavailable


@dataclass(frozen=True)
class Ran:
    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class CommandFailed(Unavailable):
    def __init__(self, server: str, ran: Ran) -> None:
        super().__init__(f"{' '.join(ran.argv[:4])} on {server} exited {ran.code}: "
                         f"{ran.stderr.strip()[-500:]}",
                         detail={"server": server, "argv": list(ran.argv), "exit": ran.code})


Remote = Callable[[str, Sequence[str], str | None], Awaitable[Ran]]


async def run_local(argv: Sequence[str], stdin: str | None = None,
                    time_limit: float = 30.0) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), time_limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Ran(tuple(argv), -1, "", f"timed out after {time_limit}s")
    return Ran(tuple(argv), proc.returncode or 0, out.decode(errors="replace"),
               err.decode(errors="replace"))


class Shell:
    """`run(server, argv)` wherever the node is: `local` here, others through `remote`."""

    def __init__(self, remote: Remote, control: str = "local") -> None:
        self.remote = remote
        self.control = control

    async def run(self, server: str, argv: Sequence[str], *, stdin: str | None = None,
                  check: bool = True) -> Ran:
        if server == self.control:
            ran = await run_local(argv, stdin)
        else:
            ran = await self.remote(server, argv, stdin)
        if check and not ran.ok:
            raise CommandFailed(server, ran)
        return ran
