"""BuildGrid against plain `docker build` + `docker push`, side by side, same engine and registry.

Each round makes two new commits of the same repository (different nonces, same shape, so
neither side reuses the other's cache for the changed steps): c66d builds one from a signed
GitHub-style push webhook until the image is in its registry; plain docker builds the other
from a working copy and pushes it to the same registry. Prints the medians, their ratio
(goal: at most 1.05) and the time from webhook to image available.

    .venv/bin/python bench/build.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.gitrepo import GitRepo, make_repo  # noqa: E402
from tests.support.http import basic  # noqa: E402

PASSWORD = "bench-admin-password"
AUTH = basic("admin", PASSWORD)
DOCKERFILE_TAIL = """COPY assets /assets
COPY nonce /nonce
RUN for i in 1 2 3; do echo step $i; done; sha256sum /assets/* /nonce > /checksums
"""


def api(url: str, method: str, path: str, body: object = None,
        headers: dict[str, str] | None = None, raw: bytes | None = None) -> object:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **AUTH,
                                          **(headers or {})})
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read()
    return json.loads(text) if text else None


def start_c66d(data: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "C66D_ADMIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1",
           "C66D_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "c66d", "serve", "--data-dir", str(data),
                             "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if m := re.search(r"http:\s+(http://[^/\s]+)/", line):
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("c66d did not start")


def new_commit(repo: GitRepo, label: str) -> str:
    repo.write("nonce", f"{label} {time.time_ns()} {os.urandom(8).hex()}\n")
    return repo.commit(f"bench {label}")


def c66d_round(url: str, repo: GitRepo, secret: str, label: str) -> float:
    sha = new_commit(repo, label)
    body = json.dumps({"ref": "refs/heads/main", "after": sha,
                       "repository": {"clone_url": repo.url}, "pusher": {"name": "bench"}})
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    started = time.perf_counter()
    answer = api(url, "POST", "/api/v1/hooks/bench", raw=body.encode(),
                 headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={mac}"})
    build_id = answer["builds"][0]["id"]  # type: ignore[index]
    req = urllib.request.Request(f"{url}/api/v1/builds/{build_id}/log?follow=1", headers=AUTH)
    with urllib.request.urlopen(req, timeout=300) as resp:  # ends when the build ends
        log = resp.read().decode()
    elapsed = time.perf_counter() - started
    build = api(url, "GET", f"/api/v1/builds/{build_id}")
    if build["status"] != "succeeded":  # type: ignore[index]
        raise SystemExit(f"c66d build failed: {build['reason']}")  # type: ignore[index]
    PHASES.append(phases(log))
    return elapsed


PHASES: list[dict[str, float]] = []


def phases(log: str) -> dict[str, float]:
    """Seconds spent fetching, building and pushing, from the log's `==>` marks."""
    marks: dict[str, float] = {}
    for line in log.splitlines():
        if m := re.match(r"==> (\d+):(\d+):(\d+\.\d+) (\w+)", line):
            marks.setdefault(m.group(4), int(m.group(1)) * 3600 + int(m.group(2)) * 60
                             + float(m.group(3)))
    return {"fetch": marks["building"] - marks["fetching"],
            "build": marks["pushing"] - marks["building"],
            "push": marks["pushed"] - marks["pushing"]}


def plain_round(host: str, repo: GitRepo, docker_env: dict[str, str], label: str) -> float:
    sha = new_commit(repo, label)
    tag = f"{host}/bench/plain:{sha}"
    started = time.perf_counter()
    subprocess.run(["docker", "build", "-q", "-t", tag, str(repo.path)], check=True,
                   capture_output=True, env=docker_env, timeout=300)
    built = time.perf_counter()
    subprocess.run(["docker", "push", "-q", tag], check=True, capture_output=True,
                   env=docker_env, timeout=300)
    done = time.perf_counter()
    PLAIN.append({"build": built - started, "push": done - built})
    return done - started


PLAIN: list[dict[str, float]] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="c66d-bench-build-"))
    proc = None
    host = ""
    try:
        assets = os.urandom(4_000_000)
        repos = {}
        for side in ("c66d", "plain"):
            repo = make_repo(work / side, dockerfile_extra=DOCKERFILE_TAIL)
            repo.write("assets/data.bin", assets)
            repo.commit("assets")
            repos[side] = repo
        proc, url = start_c66d(work / "data")
        host = url.removeprefix("http://")
        yml = f"services:\n  web:\n    git_url: {repos['c66d'].url}\n    git_branch: main\n"
        api(url, "POST", "/api/v1/stacks", {"name": "bench", "service_yml": yml})
        secret = api(url, "GET", "/api/v1/stacks/bench/hook")["secret"]  # type: ignore[index]
        docker_env = {**os.environ, "DOCKER_CONFIG": str(work / "docker-config")}
        subprocess.run(["docker", "login", host, "-u", "admin", "--password-stdin"],
                       input=PASSWORD, text=True, check=True, capture_output=True,
                       env=docker_env, timeout=60)
        # warm-up: the common base layers get cached and pushed once for each side
        c66d_round(url, repos["c66d"], secret, "warm")
        plain_round(host, repos["plain"], docker_env, "warm")
        c66d_times, plain_times = [], []
        for n in range(args.rounds):
            if n % 2 == 0:
                c66d_times.append(c66d_round(url, repos["c66d"], secret, f"r{n}"))
                plain_times.append(plain_round(host, repos["plain"], docker_env, f"r{n}"))
            else:
                plain_times.append(plain_round(host, repos["plain"], docker_env, f"r{n}"))
                c66d_times.append(c66d_round(url, repos["c66d"], secret, f"r{n}"))
        c66d_med, plain_med = statistics.median(c66d_times), statistics.median(plain_times)
        print(f"rounds: {args.rounds} (after one warm-up each); context ~5 MB, 6 steps")
        print("c66d  webhook -> image in registry: "
              + " ".join(f"{t:.2f}" for t in c66d_times) + f"  median {c66d_med:.2f} s")
        print("plain docker build + docker push:   "
              + " ".join(f"{t:.2f}" for t in plain_times) + f"  median {plain_med:.2f} s")
        print(f"ratio c66d / plain (medians): {c66d_med / plain_med:.3f}  (goal <= 1.05)")
        for name, rows in (("c66d ", PHASES[1:]), ("plain", PLAIN[1:])):
            print(f"{name} phase medians: " + ", ".join(
                f"{k} {statistics.median(r[k] for r in rows):.2f} s" for k in rows[0]))
        print(f"webhook to image available: median {c66d_med:.2f} s,"
              f" best {min(c66d_times):.2f} s")
        return 0
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if host:
            out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                                 capture_output=True, text=True, check=False).stdout.split()
            mine = [ref for ref in out if ref.startswith(f"{host}/")]
            if mine:
                subprocess.run(["docker", "rmi", "-f", *mine], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
