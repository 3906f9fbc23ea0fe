"""After a successful rollout, servers keep only the last `images_kept` images per service.

Only images c66d itself deployed from its built-in registry are touched, and only once they
fall out of the last N a service was deployed with; an image a container still uses (running
or stopped) stays, as the engine refuses to delete it.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiodocker

from c66d.errors import Unavailable
from c66d.logs import get_logger
from c66d.orchestrator.reach import Reach
from c66d.store import Deployment, Store

log = get_logger("c66d.prune")


def stale_images(history: Sequence[Deployment], keep: int, registry: str) -> dict[str, list[str]]:
    """Per service, the images of succeeded deployments older than the last `keep` distinct
    ones (history newest first; pure)."""
    seen: dict[str, list[str]] = {}
    for deployment in history:
        if deployment.status != "succeeded":
            continue
        for service, image in deployment.snapshot.get("images", {}).items():
            images = seen.setdefault(service, [])
            if image not in images:
                images.append(image)
    return {service: [i for i in images[keep:] if i.startswith(f"{registry}/")]
            for service, images in seen.items() if images[keep:]}


async def prune_stack(store: Store, reach: Reach, stack: str, keep: int) -> list[str]:
    """Remove the stack's stale images from every server that is up; 'server: image' removed."""
    history = await store.deployments.for_stack(stack, limit=200)
    stale = [image for images in stale_images(history, keep, reach.registry).values()
             for image in images]
    if not stale:
        return []
    removed: list[str] = []
    for server in await store.servers.all():
        if server.state != "up":
            continue
        try:
            docker = reach.docker(server.name)
        except Unavailable:
            continue
        removed += [f"{server.name}: {image}" for image in await _remove(docker, stale)]
    if removed:
        log.info("stack %s: pruned %s", stack, ", ".join(removed))
    return removed


async def _remove(docker: aiodocker.Docker, images: list[str]) -> list[str]:
    removed = []
    for image in images:
        try:
            await docker.images.inspect(image)
        except aiodocker.DockerError:
            continue  # not on this server
        try:
            await docker.images.delete(image)
        except aiodocker.DockerError as exc:
            if exc.status != 409:  # 409: a container uses it, keep it
                log.warning("cannot remove image %s: %s", image, exc.message)
            continue
        removed.append(image)
    return removed
