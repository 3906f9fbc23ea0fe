"""SSH to servers: c66d's own key pair, pinned host keys, argv-built commands, reconnect backoff.

What to decide (host key verdicts, command lines, backoff delays) is pure; `open_connection` and
`run_argv` are the thin parts that talk to asyncssh.
"""

from __future__ import annotations

import enum
import os
import random
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from c66d.errors import C66dError, Invalid, Unavailable

KEY_FILE = "id_ed25519"


# --- c66d's key pair --------------------------------------------------------------------------

def load_or_create_client_key(folder: Path, comment: str = "c66d") -> asyncssh.SSHKey:
    """c66d's ed25519 key in `folder` (made on first start, 0600); servers authorize its .pub."""
    private = folder / KEY_FILE
    if private.exists():
        return asyncssh.read_private_key(private)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    tmp = folder / f".{KEY_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key("openssh"))
    os.replace(tmp, private)
    (folder / f"{KEY_FILE}.pub").write_bytes(key.export_public_key("openssh"))
    return key


def public_key_line(key: asyncssh.SSHKey) -> str:
    """`ssh-ed25519 AAAA... comment`: the line for a server's authorized_keys."""
    return key.export_public_key("openssh").decode().strip()


def bare_key(line: str) -> str:
    """`ALG BASE64` of an OpenSSH public key line, without its comment."""
    parts = line.split()
    return " ".join(parts[:2])


def fingerprint(line: str) -> str:
    """`SHA256:...` of an OpenSSH public key line ('' for none)."""
    if not line:
        return ""
    return str(asyncssh.import_public_key(bare_key(line)).get_fingerprint("sha256"))


# --- host keys: trust on first use, refuse a change until an admin accepts it ----------------

class HostKeyVerdict(enum.Enum):
    TRUST_FIRST = "trust-first"  # nothing recorded yet: record this one
    MATCH = "match"
    CHANGED = "changed"  # refuse; keep the new key pending for an admin


def judge_host_key(recorded: str, presented: str) -> HostKeyVerdict:
    if not recorded:
        return HostKeyVerdict.TRUST_FIRST
    if bare_key(recorded) == bare_key(presented):
        return HostKeyVerdict.MATCH
    return HostKeyVerdict.CHANGED


class HostKeyChanged(Unavailable):
    """The server presented another host key than the one recorded."""

    code = "HOST_KEY_CHANGED"

    def __init__(self, server: str, recorded: str, presented: str) -> None:
        self.server, self.recorded, self.presented = server, recorded, presented
        super().__init__(host_key_changed_message(server, recorded, presented),
                         detail={"expected": fingerprint(recorded),
                                 "got": fingerprint(presented)})


def host_key_changed_message(server: str, recorded: str, presented: str) -> str:
    return (f"host key changed: expected {fingerprint(recorded)}, got {fingerprint(presented)};"
            f" accept it with POST /api/v1/servers/{server}/accept-key"
            " if the server was reinstalled on purpose")


# --- remote commands as data ------------------------------------------------------------------

def remote_command(argv: Sequence[str]) -> str:
    """The command line sshd hands to the login shell: every word quoted, never concatenated."""
    if not argv:
        raise Invalid("a remote command needs at least a program name")
    for word in argv:
        if not isinstance(word, str):
            raise Invalid(f"remote command words must be text, got {type(word).__name__}")
        if "\0" in word:
            raise Invalid("a remote command word contains a NUL byte")
    return shlex.join(argv)


@dataclass(frozen=True)
class Result:
    """What a remote command did."""

    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class RemoteCommandFailed(C66dError):
    """A command run over SSH exited non-zero; carries argv, exit status and stderr."""

    status = 502
    code = "REMOTE_COMMAND_FAILED"

    def __init__(self, server: str, result: Result) -> None:
        self.server = server
        self.argv = result.argv
        self.exit_status = result.exit_status
        self.stderr = result.stderr
        self.stdout = result.stdout
        tail = result.stderr.strip().splitlines()[-1:] or ["(no error output)"]
        super().__init__(
            f"on server {server!r}, {shlex.join(result.argv)} exited {result.exit_status}:"
            f" {tail[0]}",
            detail={"server": server, "argv": list(result.argv),
                    "exit_status": result.exit_status, "stderr": result.stderr[-4000:]},
        )


# --- reconnect schedule -----------------------------------------------------------------------

def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0, jitter: float = 0.1,
                  rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0-based): doubling up to `cap`,
    spread by +-jitter so many servers do not retry in lockstep."""
    delay = min(cap, base * 2.0 ** min(attempt, 32))
    return max(0.0, delay * (1 + jitter * (2 * rand() - 1)))


# --- the thin part ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    address: str
    port: int
    username: str
    host_key: str  # recorded OpenSSH line, '' before first contact


class _HostKeyCatcher(asyncssh.SSHClient):
    """Remembers the key the server presents and accepts it only if it is the pinned one."""

    def __init__(self, recorded: str) -> None:
        self.recorded = recorded
        self.presented = ""

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.presented = key.export_public_key("openssh").decode().strip()
        return judge_host_key(self.recorded, self.presented) is not HostKeyVerdict.CHANGED


async def open_connection(
    target: Target, client_key: asyncssh.SSHKey, *, connect_timeout: float, keepalive: float,
) -> tuple[asyncssh.SSHClientConnection, str]:
    """Connect and authenticate; returns the connection and the host key it presented.

    Raises HostKeyChanged when the host key differs from the recorded one."""
    catcher = _HostKeyCatcher(target.host_key)
    algs: Sequence[str] | str = "default"
    if target.host_key:  # ask for the pinned key's type, so a second key type is no "change"
        algs = [bare_key(target.host_key).split()[0]]
    try:
        conn = await asyncssh.connect(
            target.address, target.port, username=target.username,
            client_keys=[client_key], known_hosts=([], [], []), client_factory=lambda: catcher,
            server_host_key_algs=algs, agent_path=None, config=[], connect_timeout=connect_timeout,
            login_timeout=connect_timeout, keepalive_interval=keepalive, keepalive_count_max=3,
        )
    except asyncssh.HostKeyNotVerifiable:
        if catcher.presented:
            raise HostKeyChanged(target.name, target.host_key, catcher.presented) from None
        raise
    return conn, catcher.presented


async def run_argv(conn: asyncssh.SSHClientConnection, argv: Sequence[str], *,
                   input: str | None = None, time_limit: float | None = None) -> Result:
    """Run argv on the server and collect its output (no check; see Servers.run)."""
    command = remote_command(argv)
    done = await conn.run(command, input=input, timeout=time_limit, check=False)
    status = done.exit_status if done.exit_status is not None else -1
    return Result(tuple(argv), status, _text(done.stdout), _text(done.stderr))


def _text(data: object) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes | bytearray):
        return bytes(data).decode("utf-8", "replace")
    return str(data)
