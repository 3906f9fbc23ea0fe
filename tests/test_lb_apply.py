"""The script that installs nginx's configuration on a server, run as on a real host."""

from __future__ import annotations

import subprocess

from c66d.orchestrator.lb import Backend, Layout, Site, render
from c66d.orchestrator.lbapply import apply_argv
from tests.support.hosts import Host


def _apply(host: Host, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(host.nsenter(*apply_argv(Layout())), input=text, text=True,
                          capture_output=True, timeout=60)


def _master(host: Host) -> tuple[int, str]:
    """The pid c66d's nginx pid file names on the host, and that process's name."""
    pid = int(host.run("cat", Layout().pid).stdout)
    return pid, host.run("cat", f"/proc/{pid}/comm").stdout.strip()


def test_a_stale_pid_file_naming_another_process_starts_nginx(hosts: list[Host]) -> None:
    host = hosts[0]
    conf = render([Site("shop", "web", 80, ("shop.example",), (Backend("10.66.1.2", 8000),),
                        "roundrobin")]).text
    bystander = subprocess.Popen(host.nsenter("sleep", "60"))
    try:
        # nginx was killed (-9) earlier; its pid file now names a process that is not nginx
        host.run("sh", "-c", f"echo {bystander.pid} > {Layout().pid}")
        first = _apply(host, conf)
        assert (first.returncode, first.stdout.strip()) == (0, "started"), first.stderr
        assert bystander.poll() is None  # it was not sent nginx's reload signal
        master, name = _master(host)
        assert master != bystander.pid and name == "nginx"
        again = _apply(host, conf.replace("shop.example", "www.shop.example"))
        assert (again.returncode, again.stdout.strip()) == (0, "reloaded"), again.stderr
        assert _master(host) == (master, "nginx")
    finally:
        bystander.kill()
        bystander.wait()
        host.stop_nginx()


def test_a_pid_file_naming_another_hosts_nginx_leaves_that_nginx_alone(
        hosts: list[Host]) -> None:
    here, there = hosts
    conf = render([Site("shop", "web", 80, ("shop.example",), (Backend("10.66.1.2", 8000),),
                        "roundrobin")]).text
    try:
        assert _apply(there, conf).stdout.strip() == "started"
        other, _ = _master(there)
        workers = there.run("pgrep", "-P", str(other)).stdout.split()
        # the pid was reused on this machine by the other host's nginx master
        here.run("sh", "-c", f"echo {other} > {Layout().pid}")
        mine = _apply(here, conf)
        assert (mine.returncode, mine.stdout.strip()) == (0, "started"), mine.stderr
        assert _master(here)[0] != other
        assert there.run("pgrep", "-P", str(other)).stdout.split() == workers  # not reloaded
    finally:
        here.stop_nginx()
        there.stop_nginx()
