"""The pure parts of servers over SSH: host key verdicts, argv building, backoff, validation."""

from __future__ import annotations

import shlex
import shutil
import stat
import tempfile
from pathlib import Path

import asyncssh
import pytest

from c66d.errors import Invalid
from c66d.orchestrator.links import LinkTimes
from c66d.orchestrator.servers import ServerSpec, parse_server_spec, socket_dir_for
from c66d.orchestrator.ssh import (
    HostKeyChanged,
    HostKeyVerdict,
    RemoteCommandFailed,
    Result,
    backoff_delay,
    fingerprint,
    judge_host_key,
    load_or_create_client_key,
    public_key_line,
    remote_command,
)


def _key_line(comment: str = "") -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment or None)
    return key.export_public_key("openssh").decode().strip()


def test_host_key_is_trusted_on_first_use_then_pinned() -> None:
    first, other = _key_line("server"), _key_line()
    assert judge_host_key("", first) is HostKeyVerdict.TRUST_FIRST
    assert judge_host_key(first, first) is HostKeyVerdict.MATCH
    # The comment is not part of the key.
    assert judge_host_key(first.rsplit(" ", 1)[0], first) is HostKeyVerdict.MATCH
    assert judge_host_key(first, other) is HostKeyVerdict.CHANGED


def test_changed_host_key_error_names_both_fingerprints_and_the_way_out() -> None:
    old, new = _key_line(), _key_line()
    error = HostKeyChanged("web1", old, new)
    assert error.message.startswith(
        f"host key changed: expected {fingerprint(old)}, got {fingerprint(new)}; accept it with")
    assert "POST /api/v1/servers/web1/accept-key" in error.message
    assert error.code == "HOST_KEY_CHANGED" and error.status == 503
    assert fingerprint(old).startswith("SHA256:") and fingerprint("") == ""


@pytest.mark.parametrize("argv", [
    ["nginx", "-t"],
    ["sh", "-c", "echo $HOME; rm -rf / # not run"],
    ["printf", "%s", "it's", "two words", "`x`", "a\nb", ""],
])
def test_remote_commands_are_argv_quoted_word_by_word(argv: list[str]) -> None:
    line = remote_command(argv)
    assert line == shlex.join(argv)
    assert shlex.split(line) == argv


@pytest.mark.parametrize("argv", [[], ["echo", "a\0b"]])
def test_bad_argv_is_refused(argv: list[str]) -> None:
    with pytest.raises(Invalid):
        remote_command(argv)


def test_failed_remote_command_carries_argv_status_and_stderr() -> None:
    result = Result(("nginx", "-t"), 1, "", "nginx: [emerg] unknown directive\nfailed\n")
    error = RemoteCommandFailed("web1", result)
    assert (error.argv, error.exit_status) == (("nginx", "-t"), 1)
    assert error.stderr == result.stderr
    assert error.message == "on server 'web1', nginx -t exited 1: failed"
    assert error.detail["argv"] == ["nginx", "-t"]


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    exact = [backoff_delay(n, base=0.5, cap=8, jitter=0) for n in range(7)]
    assert exact == [0.5, 1, 2, 4, 8, 8, 8]
    assert backoff_delay(1000, cap=30, jitter=0) == 30
    assert backoff_delay(2, base=1, cap=30, jitter=0.1, rand=lambda: 0.0) == pytest.approx(3.6)
    assert backoff_delay(2, base=1, cap=30, jitter=0.1, rand=lambda: 1.0) == pytest.approx(4.4)


def test_link_timings_follow_the_grace_period() -> None:
    assert (LinkTimes(30).heartbeat, LinkTimes(30).timeout, LinkTimes(30).backoff_cap) == \
        (10, 15, 30)
    short = LinkTimes(1.5)
    assert short.heartbeat == 0.5 and short.timeout == 2 and short.backoff_cap == 1.5
    assert LinkTimes(0).heartbeat == 0.2


def test_server_spec_defaults_and_every_error_listed() -> None:
    spec = parse_server_spec({"name": "web-1", "address": "10.0.0.5"})
    assert spec == ServerSpec("web-1", "10.0.0.5", 22, "root", "/var/run/docker.sock", ["app"])
    with pytest.raises(Invalid) as bad:
        parse_server_spec({"name": "Web_1", "address": "", "port": 70000, "user": "a b",
                           "docker_socket": "relative.sock", "roles": "app", "colour": 1})
    keys = [e["key"] for e in bad.value.detail["errors"]]
    assert keys == ["name", "address", "port", "user", "docker_socket", "roles", "colour"]
    with pytest.raises(Invalid, match="reserved"):
        parse_server_spec({"name": "local", "address": "x"})
    with pytest.raises(Invalid, match="port"):
        parse_server_spec({"name": "a", "address": "x", "port": True})


def test_client_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    key = load_or_create_client_key(folder, "c66d@test")
    assert stat.S_IMODE((folder / "id_ed25519").stat().st_mode) == 0o600
    again = load_or_create_client_key(folder)
    assert public_key_line(again).split()[:2] == public_key_line(key).split()[:2]
    assert public_key_line(key).startswith("ssh-ed25519 ")
    assert (folder / "id_ed25519.pub").read_text().split()[:2] == public_key_line(key).split()[:2]


def test_forwarded_sockets_go_to_a_short_private_folder_when_the_data_dir_is_deep(
        tmp_path: Path) -> None:
    shallow = Path(tempfile.mkdtemp(prefix="c66d-t-", dir="/tmp"))
    try:
        short, temporary = socket_dir_for(shallow)
        assert short == shallow / "run" and not temporary
    finally:
        shutil.rmtree(shallow)
    deep, temporary = socket_dir_for(tmp_path / ("d" * 90))
    assert temporary and len(str(deep)) < 60
    assert stat.S_IMODE(deep.stat().st_mode) == 0o700
    deep.rmdir()
