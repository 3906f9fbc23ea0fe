"""Per-stack git deploy keys (ed25519): made by c66d, public part shown, private part kept."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from c66d.build.gitsource import SshKey
from c66d.errors import Conflict
from c66d.store import Store
from c66d.store.builds import DeployKey


def new_key_pair(comment: str) -> tuple[str, str]:
    """(private key in OpenSSH PEM form, `ssh-ed25519 AAAA... comment`)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return private, f"{public} {comment}"


async def deploy_key(store: Store, stack: str) -> DeployKey:
    """The stack's deploy key, made on first use."""
    found = await store.builds.deploy_key(stack)
    if found is not None:
        return found
    private, public = new_key_pair(f"c66d-deploy-{stack}")
    try:
        return await store.builds.add_deploy_key(stack, private, public)
    except Conflict:  # made by a concurrent caller
        made = await store.builds.deploy_key(stack)
        assert made is not None
        return made


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


async def key_files(store: Store, keys_dir: Path, stack: str) -> SshKey:
    """The stack's key written (0600) where ssh can use it, with its own known_hosts."""
    key = await deploy_key(store, stack)
    folder = keys_dir / "deploy" / stack
    private = folder / "id_ed25519"
    await asyncio.to_thread(_write_private, private, key.private_key)
    return SshKey(private, folder / "known_hosts")
