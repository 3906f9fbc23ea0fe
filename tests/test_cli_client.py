"""The real `c66d` command against a running c66d: stacks, deploy with live progress on the local
engine, containers, logs, scale, rollback, images, dns; tables, --json, exit codes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.http import ADMIN_PASSWORD
from tests.support.proc import C66dProcess
from tests.support.stacks import remove_stack_containers, unique

C66D = str(Path(sys.executable).parent / "c66d")
YML = """\
services:
  web:
    image: {image}
    command: sh -c 'echo hello from {version}; exec sleep 3600'
    stop_grace: 1s
"""
FAILING = """\
services:
  web:
    image: {image}
    command: sleep 3600
    ports: ["8000"]
    health: {{endpoint: /nothing-listens, timeout: 2s}}
    stop_grace: 1s
"""


def run_cli(*args: str, env: dict[str, str],
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([C66D, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def ok(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    done = run_cli(*args, env=env, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def as_json(*args: str, env: dict[str, str]) -> Any:
    return json.loads(ok(*args, "--json", env=env))


def admin_env(server: C66dProcess, tmp: Path) -> dict[str, str]:
    return {"C66D_URL": server.url, "C66D_USER": "admin", "C66D_PASSWORD": ADMIN_PASSWORD,
            "C66D_CLIENT_CONFIG": str(tmp / "no-client.toml")}


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def test_stack_deploy_scale_logs_rollback_through_the_command(
        c66d: C66dProcess, busybox_image: str, tmp_path: Path) -> None:
    server = c66d.start()
    env = admin_env(server, tmp_path)
    stack = unique("cli")
    v1 = write(tmp_path, "v1.yml", YML.format(image=busybox_image, version="v1"))
    v2 = write(tmp_path, "v2.yml", YML.format(image=busybox_image, version="v2"))
    try:
        assert f"stack {stack} created" in ok("stack", "create", stack, "--file", v1, env=env)
        assert stack in ok("stacks", env=env).splitlines()[1]  # a table row under the header
        assert [s["name"] for s in as_json("stacks", env=env)] == [stack]

        out = ok("deploy", stack, "--follow", env=env)
        lines = out.splitlines()
        assert lines[0].startswith(f"deploying {stack}: deployment 1")
        assert any(line.startswith("start") for line in lines), out  # steps, live
        assert lines[-1] == f"deployment 1 of {stack} succeeded"

        listed = as_json("containers", "--stack", stack, env=env)
        assert [(c["service"], c["state"]) for c in listed] == [("web", "healthy")] or \
            len(listed) == 1, listed
        table = ok("containers", "--stack", stack, env=env)
        assert table.startswith("ID") and listed[0]["id"][:12] in table
        assert "hello from v1" in ok("logs", listed[0]["id"], env=env)
        assert "hello from v1" in follow_until(["logs", listed[0]["name"], "--follow"], env,
                                               "hello from v1")

        assert "scaled to 2" in ok("scale", stack, "web", "2", "--follow", env=env)
        assert len(as_json("containers", "--stack", stack, env=env)) == 2

        ok("stack", "update", stack, "--file", v2, env=env)
        assert ok("deploy", stack, "--follow", env=env).splitlines()[-1].endswith("succeeded")
        out = ok("rollback", stack, "2", "--follow", env=env)
        assert "back to deployment 2" in out and out.splitlines()[-1].endswith("succeeded")
        logs = {ok("logs", c["id"], env=env).strip()
                for c in as_json("containers", "--stack", stack, env=env)}
        assert logs == {"hello from v1"}, logs
        numbers = [d["number"] for d in as_json("deployments", stack, env=env)]
        assert numbers == [5, 4, 3, 2, 1] or numbers[0] > numbers[-1], numbers

        assert isinstance(as_json("images", env=env), list)
        assert isinstance(as_json("dns", env=env), list)
        assert ok("images", env=env).startswith("REPOSITORY")
    finally:
        remove_stack_containers(stack)


def follow_until(args: list[str], env: dict[str, str], text: str, timeout: float = 20) -> str:
    """Run a --follow command until `text` shows up, then stop it (it streams forever)."""
    proc = subprocess.Popen([C66D, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    seen = ""
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        while text not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
    finally:
        proc.kill()
        proc.wait()
    return seen


def test_failures_exit_non_zero_with_the_reason(
        c66d: C66dProcess, busybox_image: str, tmp_path: Path) -> None:
    server = c66d.start()
    env = admin_env(server, tmp_path)
    stack = unique("clifail")
    try:
        done = run_cli("deploy", "no-such-stack", env=env)
        assert done.returncode == 1 and "no stack named 'no-such-stack'" in done.stderr
        bad = write(tmp_path, "bad.yml", "services:\n  web:\n    ports: [nonsense]\n")
        done = run_cli("stack", "create", stack, "--file", bad, env=env)
        assert done.returncode == 1 and "INVALID" in done.stderr, done.stderr
        failing = write(tmp_path, "failing.yml", FAILING.format(image=busybox_image))
        ok("stack", "create", stack, "--file", failing, env=env)
        done = run_cli("deploy", stack, "--follow", env=env)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert done.stdout.splitlines()[-1].startswith(f"deployment 1 of {stack} failed:")
        done = run_cli("stacks", env={**env, "C66D_PASSWORD": "wrong-password"})
        assert done.returncode == 1 and "401" in done.stderr
    finally:
        remove_stack_containers(stack)


def test_token_from_the_environment_or_the_client_file(c66d: C66dProcess,
                                                       tmp_path: Path) -> None:
    server = c66d.start()
    pair = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{server.url}/api/v1/tokens", method="POST", data=b'{"name": "cli", "scope": "read"}',
        headers={"Authorization": f"Basic {pair}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        token = json.loads(resp.read())["token"]
    none = {"C66D_CLIENT_CONFIG": str(tmp_path / "absent.toml"), "C66D_PASSWORD": "",
            "C66D_URL": server.url, "C66D_TOKEN": ""}
    assert run_cli("stacks", env=none).returncode == 1
    assert ok("stacks", env={**none, "C66D_TOKEN": token}).startswith("NAME")
    config = write(tmp_path, "client.toml", f'url = "{server.url}"\ntoken = "{token}"\n')
    assert ok("stacks", env={**none, "C66D_URL": "", "C66D_CLIENT_CONFIG": config})
    # a read token may not deploy: refused, exit 1
    done = run_cli("deploy", "x", env={**none, "C66D_TOKEN": token})
    assert done.returncode == 1 and "403" in done.stderr


def test_client_commands_start_without_importing_the_server() -> None:
    code = ("import sys; from c66d import cli; cli.build_parser('stacks');"
            " print(sorted(m for m in ('aiohttp', 'aiodocker', 'aiosqlite') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"
    help_text = subprocess.run([C66D, "--help"], capture_output=True, text=True, timeout=60,
                               check=True).stdout
    for command in ("stacks", "deploy", "rollback", "scale", "logs", "containers", "images",
                    "dns", "builds", "servers", "users", "registry"):
        assert f"    {command}" in help_text, command
