"""The reconciler's decisions (pure): restart, recreate, back-off, strays, hands off rollouts."""

from __future__ import annotations

import dataclasses

import pytest

from c66d.orchestrator.deployments import whole
from c66d.orchestrator.plan import Running, ServerSlot, plan_service
from c66d.orchestrator.rebuild import index_of
from c66d.orchestrator.reconcile import Action, Seen, backoff, decide, seen_from_engine
from c66d.orchestrator.reschedule import due
from c66d.orchestrator.servicefile import ServiceFileInvalid, parse_service_file
from c66d.orchestrator.testhook import pauses_at
from c66d.store import ContainerRecord

NOW = 1000.0


def rec(id: str = "a", state: str = "healthy", **kw: object) -> ContainerRecord:
    base = ContainerRecord(id=id, name=f"shop-web-1-{id}", stack="shop", service="web",
                           server="local", deployment=1, image="img", config_hash="h",
                           address="10.0.0.2", state=state, health="", created_at=0,
                           updated_at=0)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def seen(id: str = "a", running: bool = True, **kw: object) -> Seen:
    base = Seen(id=id, name=f"shop-web-1-{id}", stack="shop", service="web", deployment=1,
                running=running)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def kinds(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.kind, a.container) for a in actions]


def run(records: list[ContainerRecord], found: list[Seen], *, stacks: set[str] | None = None,
        busy: set[tuple[str, int]] | None = None) -> list[Action]:
    return decide(records, found, stacks={"shop"} if stacks is None else stacks,
                  busy=busy or set(), now=NOW)


def test_running_healthy_container_needs_nothing() -> None:
    assert run([rec()], [seen()]) == []


def test_exited_or_removed_container_is_marked_then_restarted_or_recreated() -> None:
    assert kinds(run([rec()], [seen(running=False)])) == [("died", "a")]
    assert run([rec()], [])[0].reason == "removed"
    waiting = rec(state="restarting", restarts=1, next_try=NOW - 1)
    assert kinds(run([waiting], [seen(running=False)])) == [("restart", "a")]
    assert kinds(run([waiting], [])) == [("recreate", "a")]


def test_back_off_waits_until_the_next_try() -> None:
    later = rec(state="crashloop", restarts=4, next_try=NOW + 4)
    actions = run([later], [seen(running=False)])
    assert kinds(actions) == [("wait", "a")] and actions[0].due == NOW + 4
    assert [backoff(n) for n in range(1, 9)] == [0, 1, 2, 4, 8, 16, 32, 60]


def test_back_after_a_restart_or_an_outage_is_health_checked() -> None:
    for state in ("restarting", "crashloop", "unknown", "starting"):
        assert kinds(run([rec(state=state)], [seen()])) == [("check", "a")], state


def test_crash_count_resets_once_stable() -> None:
    stable = rec(restarts=2, next_try=NOW - 31)
    assert kinds(run([stable], [seen()])) == [("stable", "a")]
    assert run([rec(restarts=2, next_try=NOW - 5)], [seen()]) == []


def test_rollout_owned_containers_are_left_alone() -> None:
    starting = rec(state="starting")
    assert run([starting], [seen(running=False)], busy={("shop", 1)}) == []
    assert run([rec(state="draining")], []) == []
    # Created by a rollout that has not recorded it yet.
    assert run([], [seen("new", deployment=2)], busy={("shop", 2)}) == []
    # Healthy but its rollout still runs (e.g. removing it after nginx refused): not recreated.
    assert run([rec()], [], busy={("shop", 1)}) == []
    # An abandoned one goes even while a rollout of its deployment runs.
    assert kinds(run([rec(state="abandoned")], [seen()], busy={("shop", 1)})) == [
        ("remove", "a")]


def test_strays_of_known_stacks_are_removed_others_left() -> None:
    actions = run([], [seen("x", deployment=7), seen("y", stack="other"),
                       seen("z", one_off=True)])
    assert kinds(actions) == [("remove", "x"), ("remove", "z")]
    assert actions[1].reason == "a deploy_command left over"


def test_deleted_stack_and_abandoned_containers_go() -> None:
    assert kinds(run([rec()], [seen()], stacks=set())) == [("forget", "a")]
    assert kinds(run([rec(state="abandoned")], [seen()])) == [("remove", "a")]


def test_engine_summary_to_seen() -> None:
    summary = {"Id": "abc", "Names": ["/shop-web-3-1"], "State": "exited",
               "Labels": {"c66d.managed": "true", "c66d.stack": "shop", "c66d.service": "web",
                          "c66d.deployment": "3"}}
    assert seen_from_engine(summary) == Seen("abc", "shop-web-3-1", "shop", "web", 3, False)
    assert seen_from_engine({"Id": "x", "Labels": {}}) is None


def test_pause_hook_matches_action_and_service() -> None:
    assert pauses_at("start", "web", "start")
    assert pauses_at("start", "web", "start:web")
    assert not pauses_at("start", "worker", "start:web")
    assert not pauses_at("start", "web", None)


def test_planner_replaces_containers_of_a_down_server_on_those_that_answer() -> None:
    """A rollout while `b` is down: its `unknown` container is planned as stopped (the rollout
    abandons it to the reconciler) and its replacement starts on `a`."""
    running = [Running("x", "a", "h"), Running("y", "b", "h")]
    plan, unplaced = plan_service("web", 2, "h", [ServerSlot("a")], running)
    assert (plan.keep, plan.start, plan.stop, unplaced) == (("x",), ("a",), ("y",), 0)


def test_reschedule_after_in_the_service_file() -> None:
    spec = parse_service_file("services:\n  web:\n    image: x\n    reschedule_after: 2m\n")
    assert spec.services["web"].reschedule_after == 120.0
    assert parse_service_file("services:\n  web:\n    image: x\n").services[
        "web"].reschedule_after is None
    with pytest.raises(ServiceFileInvalid) as bad:
        parse_service_file("services:\n  web:\n    image: x\n    reschedule_after: 0s\n")
    [problem] = bad.value.problems
    assert (problem.path, problem.line) == ("services.web.reschedule_after", 4)
    assert "longer than 0s" in problem.message


def test_reschedule_is_due_per_service_limit() -> None:
    records = [rec("a", state="unknown"), rec("b", state="unknown", service="worker"),
               rec("c", state="unknown", service="db"), rec("d", service="web")]
    limits = {("shop", "web"): 5.0, ("shop", "worker"): 20.0, ("shop", "db"): None}
    assert due(records, limits, 1.0) == ({}, 4.0)
    assert due(records, limits, 6.0) == ({"shop": ["web"]}, 14.0)
    assert due(records, limits, 30.0) == ({"shop": ["web", "worker"]}, None)
    assert due([rec("d")], limits, 30.0) == ({}, None)  # nothing unknown: nothing to move


def test_index_of_a_container_name() -> None:
    assert index_of(rec(name="shop-web-1-3")) == 3
    assert index_of(rec(name="shop-web-1-deploy")) is None
    assert index_of(rec(name="other-web-1-3")) is None


def test_rollbacks_and_scales_roll_every_service_after_a_rescheduling_deployment() -> None:
    moved = {"service_yml": "x", "images": {}, "counts": {"web": 2}, "only": ["web"]}
    assert whole(moved) == {"service_yml": "x", "images": {}, "counts": {"web": 2}}
