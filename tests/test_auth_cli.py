"""`c66d users` on the host against a running c66d, the first-start password, and logs that
never hold a password or a token."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.http import ADMIN, ADMIN_PASSWORD, basic
from tests.support.proc import C66dProcess

PASSWORD = "vera-secret-password-1"


def users(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "c66d", "users", *args, "--data-dir",
                           str(data_dir)], input=stdin, capture_output=True, text=True,
                          timeout=60)


def call(proc: C66dProcess, path: str, headers: dict[str, str], method: str = "GET",
         body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(proc.url + path, data=data, method=method,
                                 headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_users_command_manages_users_of_a_running_c66d(c66d: C66dProcess) -> None:
    c66d.start()
    added = users(c66d.data_dir, "add", "vera", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert call(c66d, "/api/v1/me", basic("vera", PASSWORD))[0] == 200
    assert users(c66d.data_dir, "add", "vera", "--password-stdin",
                 stdin=PASSWORD + "\n").returncode == 1  # exists already

    made = users(c66d.data_dir, "add", "root2", "--admin")
    generated = re.search(r"root2: password (\S+)", made.stdout)
    assert made.returncode == 0 and generated is not None
    status, me = call(c66d, "/api/v1/me", basic("root2", generated.group(1)))
    assert status == 200 and me["admin"] is True
    listed = users(c66d.data_dir, "list").stdout.splitlines()
    assert listed == ["admin\tadmin", "root2\tadmin", "vera\tuser"]

    # a token, used; a wrong password, tried
    status, made_token = call(c66d, "/api/v1/tokens", basic("vera", PASSWORD), "POST",
                              {"name": "ci", "scope": "read"})
    assert status == 201
    token = made_token["token"]
    assert call(c66d, "/api/v1/me", {"Authorization": f"Bearer {token}"})[0] == 200
    assert call(c66d, "/api/v1/me", basic("vera", "not-" + PASSWORD))[0] == 401

    changed = users(c66d.data_dir, "passwd", "vera", "--password-stdin",
                    stdin="another-password\n")
    assert changed.returncode == 0 and "another-password" not in changed.stdout
    assert call(c66d, "/api/v1/me", basic("vera", PASSWORD))[0] == 401
    assert call(c66d, "/api/v1/me", basic("vera", "another-password"))[0] == 200
    assert users(c66d.data_dir, "remove", "vera").returncode == 0
    assert call(c66d, "/api/v1/me", basic("vera", "another-password"))[0] == 401
    assert users(c66d.data_dir, "remove", "admin").returncode == 0  # root2 is admin too
    assert users(c66d.data_dir, "remove", "root2").returncode == 1  # the last admin stays
    status, audit = call(c66d, "/api/v1/audit?action=user.", basic("root2", generated.group(1)))
    assert status == 200
    actions = [(e["action"], e["target"]) for e in reversed(audit["items"])]
    assert actions[-5:] == [("user.create", "vera"), ("user.create", "root2"),
                            ("user.password", "vera"), ("user.delete", "vera"),
                            ("user.delete", "admin")]
    assert all(e["actor"].startswith("cli") for e in audit["items"][:5])
    assert c66d.stop() == 0

    log = (c66d.data_dir / "logs" / "c66d.log").read_text()
    assert "failed sign-in for user vera" in log  # the log is really written ...
    for secret in (PASSWORD, "not-" + PASSWORD, "another-password", token, ADMIN_PASSWORD,
                   generated.group(1)):
        assert secret not in log  # ... and holds no secret
        assert secret not in c66d.text()


def test_first_start_prints_a_random_admin_password_once(tmp_path: Path) -> None:
    proc = C66dProcess(tmp_path / "data")
    try:
        proc.start()
        found = re.search(r"user `admin`, password (\S+)", proc.text())
        assert found is not None
        password = found.group(1)
        key_file = tmp_path / "data" / "keys" / "admin-password"
        assert key_file.read_text().strip() == password
        assert key_file.stat().st_mode & 0o077 == 0
        assert call(proc, "/api/v1/me", basic("admin", password))[0] == 200
        assert call(proc, "/api/v1/me", ADMIN)[0] == 401
        assert proc.stop() == 0
        proc.start()
        assert password not in proc.text()
        assert proc.stop() == 0
    finally:
        proc.kill()
    assert password not in (tmp_path / "data" / "logs" / "c66d.log").read_text()
