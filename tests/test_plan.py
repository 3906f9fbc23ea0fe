"""The placement planner is pure: desired and actual state in, actions out."""

from __future__ import annotations

from collections import Counter

from c66d.orchestrator.plan import Running, ServerSlot, eligible, plan_service, spread

A, B, C = ServerSlot("a"), ServerSlot("b"), ServerSlot("c")


def test_spread_is_even_and_stable() -> None:
    assert spread(5, [A, B, C], Counter()).per_server == {"a": 2, "b": 2, "c": 1}
    # The extra container stays where one already runs, so nothing moves needlessly.
    assert spread(2, [A, B, C], Counter({"c": 1, "b": 1})).per_server == {"b": 1, "c": 1}
    assert spread(0, [A, B], Counter()).per_server == {}
    assert spread(3, [], Counter()).unplaced == 3


def test_memory_bounds_placement() -> None:
    small, big = ServerSlot("small", memory=512), ServerSlot("big", memory=4096)
    placement = spread(6, [small, big], Counter(), memory_each=512)
    assert placement.per_server == {"small": 1, "big": 5}
    assert spread(20, [small, big], Counter(), memory_each=512).unplaced == 11
    assert eligible([small, big], (), 1024) == [big]
    assert eligible([A, B, C], ("b",), None) == [B]


def test_new_version_replaces_everything() -> None:
    running = [Running("old1", "a", "v1"), Running("old2", "b", "v1")]
    plan, unplaced = plan_service("web", 2, "v2", [A, B], running)
    assert unplaced == 0
    assert plan.keep == () and sorted(plan.start) == ["a", "b"]
    assert sorted(plan.stop) == ["old1", "old2"]


def test_scale_up_and_down_keeps_what_matches() -> None:
    running = [Running("c1", "a", "v1")]
    up, _ = plan_service("web", 3, "v1", [A, B], running)
    assert up.keep == ("c1",) and sorted(up.start) == ["a", "b"] and up.stop == ()
    running = [Running("c1", "a", "v1"), Running("c2", "a", "v1"), Running("c3", "b", "v1")]
    down, _ = plan_service("web", 1, "v1", [A, B], running)
    assert len(down.keep) == 1 and down.start == () and len(down.stop) == 2
    same, _ = plan_service("web", 3, "v1", [A, B], running)
    assert not same.changes


def test_restart_on_deploy_false_leaves_running_containers() -> None:
    running = [Running("c1", "a", "v1")]
    plan, _ = plan_service("worker", 1, "v2", [A], running, restart=False)
    assert plan.keep == ("c1",) and not plan.changes


def test_containers_on_servers_no_longer_allowed_are_stopped() -> None:
    running = [Running("c1", "a", "v1"), Running("c2", "c", "v1")]
    plan, _ = plan_service("web", 2, "v1", [A, B], running)
    assert plan.keep == ("c1",) and plan.start == ("b",) and plan.stop == ("c2",)
