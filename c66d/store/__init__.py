"""The one store: all SQL lives in this package, one module per area."""

from __future__ import annotations

from pathlib import Path

from c66d.store.auth import AuthStore
from c66d.store.builds import BuildStore
from c66d.store.cloud import CloudStore
from c66d.store.core import AuditEntry, AuditStore, MetaStore, Server, ServerStore
from c66d.store.credentials import CredentialStore
from c66d.store.db import Database
from c66d.store.deployments import (
    ContainerRecord,
    ContainerStore,
    Deployment,
    DeploymentStore,
    Step,
)
from c66d.store.healing import ContainerAction, HealingStore
from c66d.store.net import Lease, NetStore, Subnet
from c66d.store.registry import RegistryStore
from c66d.store.secretbox import SecretBox
from c66d.store.stacks import EnvVar, Stack, StackStore

__all__ = [
    "AuditEntry", "ContainerAction", "ContainerRecord", "Deployment", "EnvVar", "Lease",
    "SecretBox", "Server", "Stack", "Step", "Store", "Subnet",
]


class Store:
    """Typed access to c66d's state. Areas hang off it: `store.servers`, `store.audit`, ..."""

    def __init__(self, path: Path, box: SecretBox | None = None) -> None:
        self.db = Database(path)
        self.box = box or SecretBox.ephemeral()
        self.meta = MetaStore(self.db)
        self.servers = ServerStore(self.db)
        self.audit = AuditStore(self.db)
        self.auth = AuthStore(self.db)
        self.credentials = CredentialStore(self.db)
        self.stacks = StackStore(self.db, self.box)
        self.deployments = DeploymentStore(self.db)
        self.containers = ContainerStore(self.db)
        self.healing = HealingStore(self.db)
        self.builds = BuildStore(self.db)
        self.cloud = CloudStore(self.db, self.box)
        self.registry = RegistryStore(self.db)
        self.net = NetStore(self.db, self.box)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        row = await self.db.fetchone("SELECT 1")
        return row is not None
