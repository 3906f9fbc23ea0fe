"""The nginx configuration builder is pure: serving containers in, nginx.conf text out."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from c66d.orchestrator.lb import SELF_SIGNED, Backend, Layout, Site, render, valid_name
from c66d.orchestrator.lbapply import apply_argv, sites_of
from c66d.orchestrator.servicefile import parse_service_file
from c66d.orchestrator.tls import STACK_CERT, STACK_KEY, pem_name, self_signed, stack_pem

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
                          (Backend("10.0.0.1", 8000), Backend("10.0.0.2", 9000)), https=443)]
    assert sites_of([(v2.services["web"], "s", "10.0.0.2")], {"s": "/tls/s.pem"})[0] \
        .certificate == "/tls/s.pem"


def test_the_remote_command_is_argv_with_the_paths_as_arguments() -> None:
    argv = apply_argv(Layout())
    assert argv[:2] == ["sh", "-c"] and argv[3:] == [
        "c66d-lb", "/etc/nginx/c66d", "/run/c66d-nginx.pid", "/var/log/nginx/c66d-error.log"]
    assert "nginx -t" in argv[2] and "$1" in argv[2]


def test_https_ports_terminate_tls_with_the_stacks_or_the_servers_certificate(
        tmp_path: Path) -> None:
    where = layout(tmp_path)
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / SELF_SIGNED).write_text(self_signed("web1.c66d"))
    (tmp_path / "tls" / "shop.pem").write_text(self_signed("shop.example"))
    shop = Site("shop", "web", 80, ("shop.example",), (Backend("172.30.1.2", 8000),),
                https=443, certificate=f"{tmp_path}/tls/shop.pem")
    blog = Site("blog", "web", None, ("blog.example",), (Backend("172.30.1.3", 8000),),
                https=443)
    clash = Site("x", "web", 8443, (), (Backend("172.30.1.4", 80),))
    clash_tls = Site("y", "web", None, (), (Backend("172.30.1.5", 80),), https=8443)
    out = render([shop, blog, clash, clash_tls], where)
    text = out.text
    assert "listen 443 ssl;" in text and "listen 443 ssl default_server;" in text
    assert f"ssl_certificate {tmp_path}/tls/shop.pem;" in text
    blog_block = text.split("server_name blog.example;")[1].split("}")[0]
    assert f"ssl_certificate_key {where.self_signed};" in blog_block
    assert "listen 80;" in text and "listen 80 default_server;" in text  # shop's http too
    assert [w for w in out.warnings if "https port 8443" in w]  # y/web left out
    assert "c66d_y__web;" not in text.split("upstream c66d_y__web")[1]
    check = nginx_check(tmp_path, text)
    assert check.returncode == 0, check.stderr


def test_a_stack_certificate_needs_both_variables_and_a_matching_key() -> None:
    pem = self_signed("shop.example")
    key, cert = pem.split("-----BEGIN CERTIFICATE-----")
    cert = "-----BEGIN CERTIFICATE-----" + cert
    assert stack_pem({}) == ("", "")
    both, why = stack_pem({STACK_CERT: cert, STACK_KEY: key})
    assert why == "" and cert.strip() in both and key.strip() in both
    assert "set both" in stack_pem({STACK_CERT: cert})[1]
    other_key = self_signed("x").split("-----BEGIN CERTIFICATE-----")[0]
    assert "not the key" in stack_pem({STACK_CERT: cert, STACK_KEY: other_key})[1]
    assert "do not parse" in stack_pem({STACK_CERT: "junk", STACK_KEY: key})[1]
    assert pem_name("shop", both) == pem_name("shop", both) != pem_name("shop", both + "\n")
