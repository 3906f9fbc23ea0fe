"""What the reconciler does to one server's containers: a pure function of desired and actual.

Desired: the containers the store records on the server. Actual: the containers the engine
lists with c66d's labels. A rollout owns the containers of its deployment until it finishes, and
the ones it is draining, so those are left alone (abandoned ones excepted); everything else is
brought back to running, or removed when nothing wants it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from c66d.orchestrator.containers import LABEL, MANAGED
from c66d.store import ContainerRecord

CRASHLOOP = 3  # consecutive crashes after which a container is shown as `crashloop`
STABLE = 30.0  # seconds a restarted container must run before its crash count starts again
BACKOFF_CAP = 60.0
# States the reconciler puts containers in (besides the rollout's starting/healthy/draining).
DOWN_STATES = ("restarting", "crashloop")
UNKNOWN = "unknown"  # its server does not answer
ABANDONED = "abandoned"  # left by an interrupted rollout; to be removed


@dataclass(frozen=True)
class Seen:
    """A container on the engine carrying c66d's labels."""

    id: str
    name: str
    stack: str
    service: str
    deployment: int
    running: bool
    one_off: bool = False


@dataclass(frozen=True)
class Action:
    kind: str  # died, restart, recreate, check, stable, remove, forget, wait
    container: str  # engine id (for `forget`: the record's id)
    name: str
    reason: str = ""
    stack: str = ""
    service: str = ""
    due: float = 0.0  # for `wait`: when to look again


def backoff(restarts: int) -> float:
    """Delay before restart number `restarts`: at once the first time, then 1, 2, 4 ... s."""
    if restarts <= 1:
        return 0.0
    return min(BACKOFF_CAP, 2.0 ** (restarts - 2))


def seen_from_engine(summary: dict[str, Any]) -> Seen | None:
    """A container list entry (GET /containers/json) as Seen; None without c66d's labels."""
    labels = summary.get("Labels") or {}
    if labels.get(MANAGED) != "true":
        return None
    names = summary.get("Names") or [""]
    try:
        deployment = int(labels.get(f"{LABEL}.deployment", "0"))
    except ValueError:
        deployment = 0
    return Seen(
        id=str(summary.get("Id", "")), name=str(names[0]).lstrip("/"),
        stack=labels.get(f"{LABEL}.stack", ""), service=labels.get(f"{LABEL}.service", ""),
        deployment=deployment, running=summary.get("State") == "running",
        one_off=f"{LABEL}.one_off" in labels)


def _for_record(record: ContainerRecord, seen: Seen | None, busy: bool,
                now: float) -> Action | None:
    act = _action_factory(record)
    if record.state == "draining" or (busy and record.state != ABANDONED):
        return None  # its rollout is checking, switching, stopping or removing it
    if record.state == ABANDONED:
        return act("remove", "left by an interrupted rollout")
    if seen is None or not seen.running:
        gone = "removed" if seen is None else "exited"
        if record.state not in DOWN_STATES:
            return act("died", gone)
        if now < record.next_try:
            return act("wait", gone, due=record.next_try)
        return act("recreate" if seen is None else "restart", gone)
    if record.state in (UNKNOWN, "starting", *DOWN_STATES):
        return act("check", "running again")
    if record.restarts and now - record.next_try > STABLE:
        return act("stable", f"ran {STABLE:g}s")
    return None


def _action_factory(record: ContainerRecord) -> Callable[..., Action]:
    def act(kind: str, reason: str, due: float = 0.0) -> Action:
        return Action(kind, record.id, record.name, reason, record.stack, record.service, due)
    return act


def decide(records: list[ContainerRecord], seen: list[Seen], *, stacks: set[str],
           busy: set[tuple[str, int]], now: float) -> list[Action]:
    """Actions that make the engine run what the store records, in a stable order.

    `stacks`: stacks that exist (a deleted stack's containers go). `busy`: (stack, deployment)
    pairs a rollout is carrying out now; their containers are not the reconciler's business.
    """
    by_id = {s.id: s for s in seen}
    actions: list[Action] = []
    for record in records:
        found = by_id.get(record.id)
        if record.stack not in stacks:
            actions.append(Action("forget", record.id, record.name, "its stack was deleted",
                                  record.stack, record.service))
            continue
        action = _for_record(record, found, (record.stack, record.deployment) in busy, now)
        if action is not None:
            actions.append(action)
    recorded = {r.id for r in records}
    for item in seen:
        if item.id in recorded or item.stack not in stacks:
            continue  # a stack c66d does not know may belong to another c66d on this engine
        if (item.stack, item.deployment) in busy:
            continue  # a rollout is creating it right now
        why = "a deploy_command left over" if item.one_off else "no deployment wants it"
        actions.append(Action("remove", item.id, item.name, why, item.stack, item.service))
    return actions
