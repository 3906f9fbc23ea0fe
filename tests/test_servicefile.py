"""The Cloud 66 service file: every key honoured, a bad file refused whole with paths and lines."""

from __future__ import annotations

import pytest

from c66d.orchestrator.envrefs import MissingVariable, resolve
from c66d.orchestrator.servicefile import (
    ServiceFileInvalid,
    parse_duration,
    parse_port,
    parse_service_file,
    parse_size,
    parse_stop_sequence,
)
from c66d.orchestrator.spec import HealthSpec, PortSpec, StopStep

FULL = """\
services:
  web:
    git_url: https://git.example/shop.git
    git_branch: production
    build_root: app
    dockerfile_path: docker/Dockerfile.web
    command: bundle exec puma
    build_command: rake assets:precompile
    deploy_command: rake db:migrate
    work_dir: /app
    ports: ["3000:80:443", "5000", {container: 6000, tcp: 6000}, {container: 7000, udp: 7000}]
    traffic_matches: [shop.example, www.shop.example]
    env_vars:
      RAILS_ENV: production
      DATABASE_URL: _env(DATABASE_URL)
      CACHE: _env(CACHE_URL:redis://cache)
    volumes: ["/var/data:/data", "assets:/app/public"]
    log_folder: /app/log
    health:
      type: inbound
      endpoint: /healthz
      protocol: http
      timeout: 45s
      accept: ["200", "204"]
    requires: [worker]
    pre_start_signal: USR1
    pre_stop_sequence: 1m:USR2:30s:USR1:50s
    stop_grace: 2m
    restart_on_deploy: false
    dns_behaviour: non-versioned
    load_balancing: sticky
    constraints:
      max_count: 4
      resources: {memory: 512m, cpu: 0.5}
      servers: [web1, web2]
    privileged: true
    tags: {tier: front}
  worker:
    image: registry.example/worker:1
    health: none
databases: [postgresql, redis]
"""


def test_every_key_is_read() -> None:
    spec = parse_service_file(FULL)
    web = spec.services["web"]
    assert web.builds and not spec.services["worker"].builds
    assert (web.git_branch, web.build_root, web.dockerfile_path) == (
        "production", "app", "docker/Dockerfile.web")
    assert web.ports == (PortSpec(3000, 80, 443), PortSpec(5000), PortSpec(6000, tcp=6000),
                         PortSpec(7000, udp=7000))
    assert not web.ports[1].published and web.ports[0].published
    assert web.traffic_matches == ("shop.example", "www.shop.example")
    assert web.env_vars["CACHE"] == "_env(CACHE_URL:redis://cache)"
    assert web.host_volumes == ("/var/data:/data",)
    assert web.health == HealthSpec("inbound", "/healthz", "http", 45.0, ("200", "204"))
    assert spec.services["worker"].health is None
    assert web.pre_stop_sequence[:2] == (StopStep(seconds=60), StopStep(signal="USR2"))
    assert web.stop_grace == 120 and web.restart_on_deploy is False
    assert (web.dns_behaviour, web.load_balancing) == ("non-versioned", "sticky")
    assert web.constraints.max_count == 4 and web.constraints.memory == 512 * 1024**2
    assert web.constraints.cpu == 0.5 and web.constraints.servers == ("web1", "web2")
    assert web.privileged and web.tags == {"tier": "front"}
    assert spec.databases == ("postgresql", "redis")
    assert spec.start_order() == ["worker", "web"]


def test_defaults() -> None:
    web = parse_service_file("services:\n  web:\n    image: x\n").services["web"]
    assert web.health is None and web.restart_on_deploy and web.stop_grace == 30
    assert web.dns_behaviour == "versioned" and web.load_balancing == "roundrobin"
    assert parse_service_file("services:\n  w:\n    image: x\n    health: default\n"
                              ).services["w"].health == HealthSpec()


def test_a_bad_file_lists_every_problem_with_path_and_line() -> None:
    text = """\
services:
  web:
    image: x
    ports: ["http"]
    stop_grace: soon
    colour: blue
  Bad_Name:
    image: y
  api:
    requires: [web, ghost]
    load_balancing: random
databases: [oracle]
extra: 1
"""
    with pytest.raises(ServiceFileInvalid) as caught:
        parse_service_file(text)
    found = {(p["path"], p["line"]) for p in caught.value.detail}
    assert found == {
        ("services.web.ports", 4), ("services.web.stop_grace", 5), ("services.web.colour", 6),
        ("services.Bad_Name", 7), ("services.api.load_balancing", 11), ("services.api", 9),
        ("services.api.requires", 9), ("databases", 12), ("extra", 13),
    }
    assert caught.value.status == 400 and "9 problem(s)" in caught.value.message


@pytest.mark.parametrize("text, line, fragment", [
    ("services: [\n", 2, "not valid YAML"),
    ("- a\n- b\n", 1, "expected a mapping"),
    ("databases: [redis]\n", 1, "missing"),
    ("services:\n  a: {image: x, requires: [b]}\n  b: {image: x, requires: [a]}\n", 2, "cycle"),
    ("services:\n  web: {image: x}\n  web: {image: y}\n", 3, "defined twice"),
])
def test_structural_problems(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ServiceFileInvalid) as caught:
        parse_service_file(text)
    problem = caught.value.problems[0]
    assert problem.line == line and fragment in problem.message


def test_small_parsers() -> None:
    assert parse_duration("500ms") == 0.5 and parse_duration(10) == 10
    assert parse_duration("2h") == 7200
    assert parse_size("1g") == 1024**3 and parse_size("256MiB") == 256 * 1024**2
    assert parse_port("8080:80") == PortSpec(8080, 80)
    assert parse_stop_sequence("SIGTERM:5s") == (StopStep(signal="TERM"), StopStep(seconds=5))
    for bad in ("0", "70000", "a:b", "1:2:3:4"):
        with pytest.raises(ValueError):
            parse_port(bad)
    with pytest.raises(ValueError):
        parse_stop_sequence("1m:usr2")


def test_env_references() -> None:
    env = {"A": "_env(DB)", "B": "x-_env(MISSING:def)-y", "C": "plain"}
    assert resolve("web", env, {"DB": "postgres://db"}) == {
        "A": "postgres://db", "B": "x-def-y", "C": "plain"}
    with pytest.raises(MissingVariable, match=r"services.web.env_vars.A needs stack variable DB"):
        resolve("web", env, {})


def test_traffic_matches_nginx_would_misread_are_refused_with_path_and_line() -> None:
    text = """\
services:
  web:
    image: x
    traffic_matches: [shop.example, "*.shop.example", "x; } server { listen 9", "a b"]
  api:
    image: x
    traffic_matches: api.shop.example
"""
    with pytest.raises(ServiceFileInvalid) as caught:
        parse_service_file(text)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("services.web.traffic_matches", 4)
    assert "'x; } server { listen 9'" in problem.message and "'a b'" in problem.message
    assert "'shop.example'" not in problem.message and "'*.shop" not in problem.message
    ok = parse_service_file(text.replace(', "x; } server { listen 9", "a b"', ""))
    assert ok.services["web"].traffic_matches == ("shop.example", "*.shop.example")
    assert ok.services["api"].traffic_matches == ("api.shop.example",)


def test_rollout_is_parallel_unless_the_service_asks_for_serial() -> None:
    text = "services:\n  web:\n    image: x\n  db:\n    image: x\n    rollout: serial\n"
    spec = parse_service_file(text)
    assert spec.services["web"].rollout == "parallel"
    assert spec.services["db"].rollout == "serial"
    with pytest.raises(ServiceFileInvalid) as caught:
        parse_service_file("services:\n  web:\n    image: x\n    rollout: rolling\n")
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("services.web.rollout", 4)
    assert "parallel, serial" in problem.message
