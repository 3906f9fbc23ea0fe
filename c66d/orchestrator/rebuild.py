"""The create config of a recorded container, rebuilt from its deployment's snapshot.

Containers recorded before c66d saved create configs (store.healing.save_config) have none; the
reconciler recreates such a container from what made it: the deployment's service.yml, the
image it ran and the stack's variables, with its ContainerNet address when there is one.
"""

from __future__ import annotations

from typing import Any

from c66d.errors import C66dError
from c66d.orchestrator.containers import container_spec
from c66d.orchestrator.envrefs import resolve
from c66d.orchestrator.reach import Reach
from c66d.orchestrator.servicefile import parse_service_file
from c66d.store import ContainerRecord, Store


def index_of(record: ContainerRecord) -> int | None:
    """N of a container named STACK-SERVICE-DEPLOYMENT-N (None: not a name c66d gives)."""
    prefix = f"{record.stack}-{record.service}-{record.deployment}-"
    tail = record.name[len(prefix):] if record.name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


async def rebuild_config(store: Store, reach: Reach,
                         record: ContainerRecord) -> tuple[dict[str, Any] | None, str]:
    """(config, "") or (None, why it cannot be rebuilt)."""
    index = index_of(record)
    if index is None:
        return None, f"name {record.name} is not STACK-SERVICE-DEPLOYMENT-N"
    try:
        deployment = await store.deployments.by_number(record.stack, record.deployment)
        spec = parse_service_file(deployment.snapshot["service_yml"])
        env = resolve(record.service, spec.services[record.service].env_vars,
                      await store.stacks.env(record.stack))
    except (C66dError, KeyError) as exc:
        return None, f"deployment {record.deployment} cannot describe it: {exc}"
    service = spec.services[record.service]
    built = container_spec(record.stack, service, record.image, env, record.deployment, index)
    config = built.config
    attachment = await reach.attach(record.server, record.name, record.stack)
    if attachment is not None:  # the same address: the lease is held by the name
        config = attachment.apply(config)
    return config, ""
