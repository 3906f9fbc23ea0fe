"""Fetching source with the real git CLI: mirrors, refs, export, failure reasons."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from c66d.build.errors import DockerfileMissing, GitFailed
from c66d.build.gitsource import GitRunner, Mirrors, SshKey, describe, export_context, ssh_command
from tests.support.gitrepo import make_repo


async def test_branch_head_commit_and_tag_resolve_and_export(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src")
    first = repo.head()
    repo.write("app/Dockerfile", "FROM scratch\n")
    repo.write("version.txt", "2\n")
    second = repo.commit("Second version\n\nwith a body")
    repo.git("tag", "v1", first)
    lines: list[str] = []
    git = GitRunner(lines.append)
    mirrors = Mirrors(tmp_path / "repos")

    mirror, sha = await mirrors.fetch(git, repo.url, "", "main")
    assert sha == second
    assert (await mirrors.fetch(git, repo.url, first, "main"))[1] == first
    assert (await mirrors.fetch(git, repo.url, first[:8], "main"))[1] == first
    assert (await mirrors.fetch(git, repo.url, "v1", "main"))[1] == first
    commit = await describe(git, mirror, second, "main")
    assert commit.message == "Second version\n\nwith a body"
    assert commit.author == "Ada Tester <ada@example.test>"
    assert any(line.startswith("$ git ") and "fetch" in line for line in lines)

    out = tmp_path / "ctx.tar"
    await export_context(git, mirror, second, "app", "Dockerfile", out)
    with tarfile.open(out) as tar:
        assert "Dockerfile" in tar.getnames()
    with pytest.raises(DockerfileMissing, match="no Dockerfile at 'app/Dockerfile'"):
        await export_context(git, mirror, first, "app", "Dockerfile", out)


def _pack_bytes(mirror: Path) -> int:
    return sum(p.stat().st_size for p in (mirror / "objects").rglob("*") if p.is_file())


async def test_second_fetch_reuses_the_mirror_and_fetches_only_new(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src")
    repo.write("big.bin", os.urandom(2_000_000))
    repo.commit("big file")
    git = GitRunner(lambda line: None)
    mirrors = Mirrors(tmp_path / "repos")
    mirror, _ = await mirrors.fetch(git, repo.url, "", "main")
    before = _pack_bytes(mirror)
    assert before > 2_000_000
    repo.write("version.txt", "3\n")
    new = repo.commit("small change")
    mirror2, sha = await mirrors.fetch(git, repo.url, "", "main")
    assert (mirror2, sha) == (mirror, new)
    assert _pack_bytes(mirror) - before < 100_000  # the big file did not travel again


async def test_unknown_branch_and_missing_repository_say_so(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src")
    git = GitRunner(lambda line: None)
    mirrors = Mirrors(tmp_path / "repos")
    with pytest.raises(GitFailed, match="no branch or tag named 'nope'"):
        await mirrors.fetch(git, repo.url, "nope", "main")
    with pytest.raises(GitFailed, match="cannot fetch"):
        await mirrors.fetch(git, f"file://{tmp_path}/absent", "", "main")


def test_ssh_command_quotes_paths_with_spaces() -> None:
    key = SshKey(Path("/data dir/key file"), Path("/data dir/known hosts"))
    command = ssh_command(key)
    assert "'/data dir/key file'" in command
    assert "'UserKnownHostsFile=/data dir/known hosts'" in command


async def test_fetches_by_commit_also_fetch_only_what_is_new(tmp_path: Path) -> None:
    """Webhooks name the commit: each build fetches it by sha. What the mirror has must be
    known to the next negotiation, or every fetch sends the whole tree again."""
    repo = make_repo(tmp_path / "src")
    repo.write("big.bin", os.urandom(2_000_000))
    git = GitRunner(lambda line: None)
    mirrors = Mirrors(tmp_path / "repos")
    mirror, _ = await mirrors.fetch(git, repo.url, repo.commit("big file"), "main")
    # keep every received pack as it came (git unpacks small ones into loose objects and
    # drops those it has, which would hide a big file sent again)
    subprocess.run(["git", "-C", str(mirror), "config", "fetch.unpackLimit", "1"], check=True)
    for n in range(2):
        before = _pack_bytes(mirror)
        repo.write("nonce", f"{n}\n")
        sha = repo.commit(f"nonce {n}")
        assert (await mirrors.fetch(git, repo.url, sha, "main"))[1] == sha
        assert _pack_bytes(mirror) - before < 100_000  # the big file did not travel again
