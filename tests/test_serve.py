"""`c66d serve` as a user runs it: status, registry base, DNS, UI, stop, restart, lock."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from tests.support.http import ADMIN
from tests.support.proc import C66dProcess


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def status(proc: C66dProcess) -> dict[str, Any]:
    code, _, body = get(proc.url + "/api/v1/status")
    assert code == 200
    data: dict[str, Any] = json.loads(body)
    return data


def dns_query(port: int, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    packet = DNSRecord.question(name, qtype).pack()
    if tcp:
        return DNSRecord.parse(DNSRecord.parse(packet).send("127.0.0.1", port, tcp=True, timeout=5))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(packet, ("127.0.0.1", port))
        return DNSRecord.parse(sock.recv(4096))


def test_serve_answers_on_every_door_and_stops_cleanly(c66d: C66dProcess) -> None:
    c66d.start()
    assert "http:" in c66d.text() and "dns:" in c66d.text()

    data = status(c66d)
    assert data["version"]
    assert set(data["subsystems"]) >= {"store", "registry", "build", "orchestrator", "dns", "web"}
    assert all(sub["state"] in {"ok", "degraded"} for sub in data["subsystems"].values())
    assert data["subsystems"]["store"]["state"] == "ok"
    assert [s["name"] for s in data["servers"]] == ["local"]
    assert data["servers"][0]["kind"] == "local"

    code, headers, _ = get(c66d.url + "/v2/")
    assert code == 401  # Docker's discovery: sign in first, and where
    assert headers["WWW-Authenticate"].startswith(f'Bearer realm="{c66d.url}/v2/token"')
    code, headers, _ = get(c66d.url + "/v2/", headers=ADMIN)
    assert code == 200
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"

    code, headers, body = get(c66d.url + "/")
    assert code == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"<h1>Dashboard</h1>" in body and b"local" in body

    reply = dns_query(c66d.dns_port, "c66.internal", "SOA")
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.rr[0].rtype == QTYPE.SOA
    reply = dns_query(c66d.dns_port, "nothing.c66.internal", "A", tcp=True)
    assert reply.header.rcode == RCODE.NXDOMAIN

    assert c66d.stop() == 0
    assert "stopped" in c66d.text()


def test_state_survives_a_restart(c66d: C66dProcess) -> None:
    c66d.start()
    first = status(c66d)
    assert c66d.stop() == 0
    c66d.start()
    second = status(c66d)
    assert second["instance"] == first["instance"]
    assert second["servers"] == [s | {"last_seen": second["servers"][0]["last_seen"]}
                                 for s in first["servers"]]
    assert c66d.stop() == 0


def test_second_process_on_one_data_dir_refuses(c66d: C66dProcess) -> None:
    c66d.start()
    second = subprocess.run(
        [sys.executable, "-m", "c66d", "serve", "--data-dir", str(c66d.data_dir),
         "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=30,
    )
    assert second.returncode == 1
    assert "is in use by another c66d" in second.stderr
    assert status(c66d)["instance"]  # the first one is unharmed
    assert c66d.stop() == 0


def test_second_data_dir_is_a_separate_install(c66d: C66dProcess, tmp_path: Path) -> None:
    other = C66dProcess(tmp_path / "other", env=c66d.env)
    c66d.start()
    other.start()
    try:
        assert status(c66d)["instance"] != status(other)["instance"]
    finally:
        assert other.stop() == 0
    assert c66d.stop() == 0


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "c66d", "serve", "--data-dir", str(tmp_path / "d"),
             "--http", f"127.0.0.1:{port}", "--dns", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=30,
        )
    assert out.returncode == 1
    assert "cannot start" in out.stderr and "in use" in out.stderr


def test_bad_setting_stops_the_start(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "c66d", "--data-dir", str(tmp_path / "d"), "--http", "nowhere"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 1
    assert "bad value for setting 'http'" in out.stderr
    assert not (tmp_path / "d").exists()


def test_version_command() -> None:
    out = subprocess.run([sys.executable, "-m", "c66d", "version"], capture_output=True,
                         text=True, timeout=30, check=True)
    assert out.stdout.startswith("c66d 0.")
