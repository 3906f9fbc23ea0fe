"""Fetching source with the `git` CLI: a cached bare mirror per repository, shallow fetches.

Every command is an argv list run through asyncio subprocesses; every output line goes to the
build's log. The exported source is a tar of the commit's tree (`git archive`), which is
exactly what the Docker engine wants as a build context.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shlex
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from c66d.build.errors import DockerfileMissing, GitAuthFailed, GitFailed, NoSpace

LineSink = Callable[[str], None]

_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_AUTH_MARKERS = (
    "permission denied", "authentication failed", "could not read username",
    "could not read password", "host key verification failed", "invalid username or password",
    "access denied", "http basic: access denied", "the requested url returned error: 401",
    "the requested url returned error: 403",
)


@dataclass(frozen=True)
class Commit:
    sha: str
    branch: str
    message: str
    author: str


@dataclass(frozen=True)
class SshKey:
    """A private key file and the known_hosts file that pins the hosts it was used with."""

    private_key: Path
    known_hosts: Path


def ssh_command(key: SshKey) -> str:
    """GIT_SSH_COMMAND for a deploy key; git runs it through a shell, so quote every word."""
    return shlex.join([
        "ssh", "-i", str(key.private_key), "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={key.known_hosts}",
        "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=20",
    ])


def git_env(key: SshKey | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_ASKPASS": "/bin/false"})
    if key is not None:
        env["GIT_SSH_COMMAND"] = ssh_command(key)
    return env


def mirror_name(url: str) -> str:
    """A stable folder name for a repository URL."""
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "-", url.rstrip("/").rsplit("/", 1)[-1])[:40]
    return f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{tail or 'repo'}"


def classify(url: str, output: str) -> type[GitFailed] | type[NoSpace]:
    lowered = output.lower()
    if "no space left on device" in lowered:
        return NoSpace
    if any(marker in lowered for marker in _AUTH_MARKERS):
        return GitAuthFailed
    return GitFailed


def failure(url: str, output: str, code: int, what: str) -> GitFailed | NoSpace:
    """The error for a failed git command, its last output line as the reason."""
    kind = classify(url, output)
    lines = [ln for ln in output.splitlines() if ln.strip()]
    if kind is NoSpace:
        lines = [ln for ln in lines if "no space left on device" in ln.lower()]
    elif kind is GitAuthFailed:
        lines = [ln for ln in lines if any(m in ln.lower() for m in _AUTH_MARKERS)]
    last = lines[-1] if lines else f"exit code {code}"
    if kind is GitAuthFailed:
        return GitAuthFailed(f"git authentication failed for {url}: {last}")
    return kind(f"{what}: {last}")


FETCHED_REF = "refs/c66d/fetched"


def looks_like_sha(ref: str) -> bool:
    return bool(_SHA.match(ref))


class GitRunner:
    """Runs git commands for one build, logging every line."""

    def __init__(self, log: LineSink, key: SshKey | None = None) -> None:
        self.log = log
        self.env = git_env(key)

    async def run(self, args: Sequence[str], *, cwd: Path | None = None,
                  quiet: bool = False) -> tuple[int, str]:
        """(exit code, combined output); the command and its output go to the log."""
        if not quiet:
            self.log(f"$ git {shlex.join(args)}")
        proc = await asyncio.create_subprocess_exec(
            "git", *args, cwd=cwd, env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(line)
                if not quiet:
                    self.log(line)
            code = await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        return code, "\n".join(lines)

    async def check(self, args: Sequence[str], *, cwd: Path | None = None, url: str = "",
                    what: str = "git failed", quiet: bool = False) -> str:
        code, out = await self.run(args, cwd=cwd, quiet=quiet)
        if code != 0:
            raise failure(url, out, code, what)
        return out


class Mirrors:
    """Bare mirrors under `root`, one per repository URL, one fetch at a time per mirror."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, url: str) -> asyncio.Lock:
        return self._locks.setdefault(url, asyncio.Lock())

    async def prepare(self, git: GitRunner, url: str) -> Path:
        path = self.root / mirror_name(url)
        if not (path / "HEAD").exists():
            await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
            await git.check(["init", "--bare", "--quiet", str(path)], what="git init failed",
                            quiet=True)
        return path

    async def fetch(self, git: GitRunner, url: str, ref: str, branch: str) -> tuple[Path, str]:
        """Fetch what `ref` (or the head of `branch`) needs; returns (mirror, commit sha)."""
        path = await self.prepare(git, url)
        target = ref or branch
        if len(target) == 40 and looks_like_sha(target):  # a full sha names itself
            # kept under a ref: the next fetch offers it as what we have, so only what is new
            # travels (a commit in FETCH_HEAD only is offered to nobody)
            code, out = await git.run(["-C", str(path), "fetch", "--depth=1", "--no-tags", url,
                                       f"+{target}:{FETCHED_REF}"])
            if code != 0 and not await self._has_commit(git, path, target):
                raise failure(url, out, code, f"cannot fetch commit {target} from {url}")
            return path, target
        if looks_like_sha(target) and await self._has_commit(git, path, target):
            return path, await self._rev_parse(git, path, target)
        if looks_like_sha(target):
            code, _ = await git.run(["-C", str(path), "fetch", "--depth=1", "--no-tags", url,
                                     target])
            if code != 0:  # an abbreviated sha: fetch the branch's history and look there
                deepen = ["--unshallow"] if (path / "shallow").exists() else []
                await git.check(["-C", str(path), "fetch", *deepen, "--no-tags", url,
                                 f"+refs/heads/{branch}:refs/heads/{branch}"],
                                url=url, what=f"cannot fetch branch {branch!r} from {url}")
            return path, await self._rev_parse(git, path, target)
        for spec in (f"+refs/heads/{target}:refs/heads/{target}",
                     f"+refs/tags/{target}:refs/tags/{target}"):
            code, out = await git.run(["-C", str(path), "fetch", "--depth=1", "--no-tags", url,
                                       spec])
            if code == 0:
                return path, await self._rev_parse(git, path, spec.rsplit(":", 1)[1])
            if "couldn't find remote ref" not in out.lower():
                raise failure(url, out, code, f"cannot fetch {target!r} from {url}")
        raise GitFailed(f"no branch or tag named {target!r} in {url}")

    async def _has_commit(self, git: GitRunner, path: Path, sha: str) -> bool:
        code, _ = await git.run(["-C", str(path), "cat-file", "-e", f"{sha}^{{commit}}"],
                                quiet=True)
        return code == 0

    async def _rev_parse(self, git: GitRunner, path: Path, what: str) -> str:
        out = await git.check(["-C", str(path), "rev-parse", "--verify", f"{what}^{{commit}}"],
                              what=f"no commit {what!r}", quiet=True)
        return out.strip().splitlines()[-1]


async def describe(git: GitRunner, mirror: Path, sha: str, branch: str) -> Commit:
    out = await git.check(["-C", str(mirror), "log", "-1", "--format=%an <%ae>%n%B", sha],
                          what="cannot read the commit", quiet=True)
    author, _, message = out.partition("\n")
    return Commit(sha=sha, branch=branch, message=message.strip(), author=author.strip())


def _has_member(tar_path: Path, name: str) -> bool:
    with tarfile.open(tar_path) as tar:
        return any(member.name.removeprefix("./") == name for member in tar)


async def export_context(git: GitRunner, mirror: Path, sha: str, build_root: str,
                         dockerfile: str, dest: Path) -> None:
    """Write the tree at `sha`/`build_root` to `dest` as a tar; the Dockerfile must be in it."""
    root = build_root.strip("/")
    tree = f"{sha}:{root}" if root else sha
    code, out = await git.run(["-C", str(mirror), "archive", "--format=tar", "-o", str(dest),
                               tree])
    inside = f"{root}/{dockerfile}" if root else dockerfile
    if code != 0 and classify("", out) is GitFailed and "not a valid object name" in out:
        raise DockerfileMissing(f"no Dockerfile at {inside!r} in commit {sha[:12]}"
                                f" (it has no folder {root!r}: check build_root)")
    if code != 0:
        raise failure("", out, code, "cannot export the source")
    if not await asyncio.to_thread(_has_member, dest, dockerfile.removeprefix("./")):
        raise DockerfileMissing(
            f"no Dockerfile at {inside!r} in commit {sha[:12]}"
            " (check the service's build_root and dockerfile_path)"
        )
