"""The nginx configuration builder is pure: serving containers in, nginx.conf text out."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from c66d.orchestrator.lb import Backend, Layout, Site, render, valid_name
from c66d.orchestrator.lbapply import apply_argv, sites_of
from c66d.orchestrator.servicefile import parse_service_file

WEB = Site("shop", "web", 80, ("shop.example", "www.shop.example"),
           (Backend("172.30.1.2", 8000), Backend("172.30.1.3", 8000)))
API = Site("shop", "api", 80, ("api.shop.example",), (Backend("172.30.1.4", 3000),),
           method="sticky")


def nginx_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """Debian's nginx, asked whether it takes the text (nothing is started)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed; run scripts/install")
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    return subprocess.run([nginx, "-t", "-q", "-c", str(conf)], capture_output=True,
                          text=True, timeout=30)


def layout(tmp_path: Path) -> Layout:
    return Layout(str(tmp_path), str(tmp_path / "nginx.pid"), str(tmp_path / "error.log"))


def test_each_service_gets_its_names_and_round_robin_upstream(tmp_path: Path) -> None:
    out = render([WEB, API], layout(tmp_path))
    text = out.text
    assert out.warnings == ()
    assert "upstream c66d_shop__web {" in text
    assert "server 172.30.1.2:8000;" in text and "server 172.30.1.3:8000;" in text
    assert "server_name shop.example www.shop.example;" in text
    assert "proxy_pass http://c66d_shop__web;" in text
    # sticky maps to ip_hash, only in the api's upstream
    api_block = text.split("upstream c66d_shop__api {")[1].split("}")[0]
    assert "ip_hash;" in api_block and "ip_hash" not in text.split("upstream c66d_shop__web")[1]
    # Unknown names on port 80 get 404 from a default server, not someone's app.
    assert "listen 80 default_server;" in text and "return 404;" in text
    assert f"pid {tmp_path / 'nginx.pid'};" in text
    check = nginx_check(tmp_path, text)
    assert check.returncode == 0, check.stderr


def test_a_service_without_traffic_matches_is_the_default_of_its_port(tmp_path: Path) -> None:
    plain = Site("blog", "web", 8080, (), (Backend("172.30.2.2", 80),))
    other = Site("blog", "admin", 8080, (), (Backend("172.30.2.3", 80),))
    out = render([plain, other, WEB], layout(tmp_path))
    assert "listen 8080 default_server;" in out.text
    assert "proxy_pass http://c66d_blog__admin;" in out.text  # first by name wins
    assert any("already served without traffic_matches" in w for w in out.warnings)
    assert nginx_check(tmp_path, out.text).returncode == 0


def test_nothing_to_serve_and_unsafe_names_are_left_out(tmp_path: Path) -> None:
    empty = Site("shop", "idle", 80, ("idle.example",), ())
    evil = Site("shop", "evil", 81, ("ok.example", "x; } server { listen 9"),
                (Backend("172.30.1.9", 80),))
    out = render([empty, evil], layout(tmp_path))
    assert "idle" not in out.text.split("http {")[1]
    assert "listen 9" not in out.text and "server_name ok.example;" in out.text
    assert len(out.warnings) == 2
    assert nginx_check(tmp_path, out.text).returncode == 0
    assert not valid_name("a b") and valid_name("*.shop.example") and valid_name("shop.*")


def test_no_sites_is_still_a_valid_configuration(tmp_path: Path) -> None:
    out = render([], layout(tmp_path))
    assert "server {" not in out.text
    assert nginx_check(tmp_path, out.text).returncode == 0


def test_sites_come_from_http_ports_of_serving_containers() -> None:
    v1 = parse_service_file("services:\n  web:\n    image: x\n    ports: ['8000:80']\n"
                            "    traffic_matches: [a.example]\n  worker:\n    image: x\n")
    v2 = parse_service_file("services:\n  web:\n    image: x\n    ports: ['9000:80:443']\n"
                            "    traffic_matches: [b.example]\n")
    sites = sites_of([(v1.services["web"], "s", "10.0.0.1"), (v1.services["worker"], "s", "x"),
                      (v2.services["web"], "s", "10.0.0.2"), (v2.services["web"], "s", "")])
    assert sites == [Site("s", "web", 80, ("b.example",),
                          (Backend("10.0.0.1", 8000), Backend("10.0.0.2", 9000)))]


def test_the_remote_command_is_argv_with_the_paths_as_arguments() -> None:
    argv = apply_argv(Layout())
    assert argv[:2] == ["sh", "-c"] and argv[3:] == [
        "c66d-lb", "/etc/nginx/c66d", "/run/c66d-nginx.pid", "/var/log/nginx/c66d-error.log"]
    assert "nginx -t" in argv[2] and "$1" in argv[2]
