"""Registry benchmark: c66d against Debian's docker-registry (CNCF Distribution 2.8).

Pushes and pulls the same ~100 MB, 5-layer image with `docker` and with `skopeo` to both
registries, started side by side on loopback, each operation against a freshly started,
empty registry (so nothing is skipped as "already exists"). Prints the median of several
runs, c66d's time as a ratio of Distribution's, and each server's peak RSS (VmHWM).

    .venv/bin/python bench/registry.py [--runs 3] [--mb 100]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD = "bench-password"
IMAGE = "c66d-bench/registry:latest"
REPO = "bench/app"


def sh(*args: str, input_text: str | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(args, capture_output=True, text=True, input=input_text, env=env,
                         timeout=900)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout + out.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server for {url} exited with {proc.returncode}")
        try:
            host, port = url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{url} did not come up")


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Server:
    """One registry process on a fresh, empty store."""

    name: str
    start: Callable[[Path, int], subprocess.Popen[bytes]]
    needs_login: bool
    peak_mb: float = 0.0
    idle_mb: float = 0.0
    proc: subprocess.Popen[bytes] | None = None
    host: str = ""
    workdir: Path | None = None

    def __enter__(self) -> Server:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        self.proc = self.start(self.workdir, port)
        wait_http("http://" + self.host, self.proc)
        self.warm_up()
        self.idle_mb = max(self.idle_mb, rss_mb(self.proc.pid, "VmRSS"))
        return self

    def warm_up(self) -> None:
        """What a client's login does once: check the password (c66d hashes it with scrypt
        the first time), so the timed operations see a server in its steady state."""
        request = urllib.request.Request(f"http://{self.host}/v2/token?service=c66d"
                                         f"&scope=repository:{REPO}:pull,push")
        if self.needs_login:
            token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=30).read()

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None and self.workdir is not None
        self.peak_mb = max(self.peak_mb, rss_mb(self.proc.pid))
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_c66d(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "C66D_ADMIN_PASSWORD": PASSWORD, "C66D_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "c66d", "serve", "--data-dir", str(workdir / "data"),
         "--http", f"127.0.0.1:{port}", "--dns", "127.0.0.1:0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


DISTRIBUTION_CONFIG = """version: 0.1
log:
  level: error
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def start_distribution(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    config = workdir / "config.yml"
    config.write_text(DISTRIBUTION_CONFIG.format(root=workdir / "store", port=port))
    return subprocess.Popen(["docker-registry", "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Bench:
    workdir: Path
    archive: Path
    layout: Path
    docker_config: Path
    times: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def docker(self, *args: str, input_text: str | None = None) -> str:
        return sh("docker", "--config", str(self.docker_config), *args, input_text=input_text)

    def timed(self, server: str, op: str, fn: Callable[[], object]) -> None:
        started = time.perf_counter()
        fn()
        self.times.setdefault((server, op), []).append(time.perf_counter() - started)

    def creds(self, server: Server) -> list[str]:
        return ["--creds", f"admin:{PASSWORD}"] if server.needs_login else []

    def docker_round(self, server: Server) -> None:
        ref = f"{server.host}/{REPO}:v1"
        if server.needs_login:
            self.docker("login", "-u", "admin", "--password-stdin", server.host,
                        input_text=PASSWORD)
        self.docker("rmi", "-f", IMAGE)
        self.docker("load", "-i", str(self.archive))
        self.docker("tag", IMAGE, ref)
        self.timed(server.name, "docker push", lambda: self.docker("push", ref))
        self.docker("rmi", "-f", IMAGE, ref)
        self.timed(server.name, "docker pull", lambda: self.docker("pull", ref))
        self.docker("rmi", "-f", ref)

    def skopeo_round(self, server: Server) -> None:
        target = f"docker://{server.host}/{REPO}:v1"
        dest = [*(["--dest-creds", f"admin:{PASSWORD}"] if server.needs_login else []),
                "--dest-tls-verify=false"]
        src = [*(["--src-creds", f"admin:{PASSWORD}"] if server.needs_login else []),
               "--src-tls-verify=false"]
        out_dir = self.workdir / f"pulled-{server.name}"
        shutil.rmtree(out_dir, ignore_errors=True)
        self.timed(server.name, "skopeo push",
                   lambda: sh("skopeo", "copy", *dest, f"oci:{self.layout}:v1", target))
        self.timed(server.name, "skopeo pull",
                   lambda: sh("skopeo", "copy", *src, target, f"oci:{out_dir}:v1"))
        shutil.rmtree(out_dir, ignore_errors=True)


def build_image(workdir: Path, megabytes: int) -> None:
    context = workdir / "context"
    context.mkdir()
    shutil.copy2("/bin/busybox", context / "busybox")
    per_layer = megabytes * 1_000_000 // 3
    runs = "".join(f"RUN head -c {per_layer} /dev/urandom > /data{i}.bin\n" for i in range(3))
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n' + runs)
    sh("docker", "build", "-q", "-t", IMAGE, str(context))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100, help="image size in MB (5 layers)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    servers = [Server("c66d", start_c66d, True), Server("distribution", start_distribution,
                                                           False)]
    try:
        build_image(workdir, args.mb)
        bench = Bench(workdir, workdir / "image.tar", workdir / "layout", workdir / "docker")
        sh("docker", "save", "-o", str(bench.archive), IMAGE)
        sh("skopeo", "copy", f"docker-archive:{bench.archive}", f"oci:{bench.layout}:v1")
        for run in range(args.runs):
            for server in servers if run % 2 == 0 else servers[::-1]:
                with server:
                    bench.docker_round(server)
                with server:
                    bench.skopeo_round(server)
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
        report(bench, servers, args)
    finally:
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(bench: Bench, servers: list[Server], args: argparse.Namespace) -> None:
    size = sum(f.stat().st_size for f in (bench.layout / "blobs").rglob("*") if f.is_file())
    print(f"image: {size / 1e6:.0f} MB compressed, 5 layers; {args.runs} runs; median seconds")
    print(f"{'operation':<14}{'c66d':>10}{'distribution':>15}{'ratio':>9}")
    for op in ("docker push", "docker pull", "skopeo push", "skopeo pull"):
        ours = statistics.median(bench.times[("c66d", op)])
        theirs = statistics.median(bench.times[("distribution", op)])
        print(f"{op:<14}{ours:>10.2f}{theirs:>15.2f}{ours / theirs:>9.2f}")
    print(f"RSS MB, idle  {servers[0].idle_mb:>10.0f}{servers[1].idle_mb:>15.0f}")
    print(f"RSS MB, peak  {servers[0].peak_mb:>10.0f}{servers[1].peak_mb:>15.0f}")


if __name__ == "__main__":
    raise SystemExit(main())
