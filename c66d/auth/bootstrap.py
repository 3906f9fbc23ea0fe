"""First start: the `admin` user, with `admin_password` or a random password shown once."""

from __future__ import annotations

import asyncio
import contextlib

from c66d.auth.crypto import hash_password, random_password, verify_password
from c66d.auth.state import write_private
from c66d.config import Config
from c66d.datadir import DataDir
from c66d.logs import SECRETS, get_logger
from c66d.store import Store

ADMIN = "admin"
log = get_logger("c66d.auth")


async def ensure_admin(store: Store, config: Config, data_dir: DataDir) -> None:
    """Create `admin` when there are no users; re-apply `admin_password` when it is set.

    `admin_password` (C66D_ADMIN_PASSWORD) is authoritative while it is set: if the admin's
    stored password differs, it is reset to it at start.
    """
    password = config.admin_password
    if password:
        SECRETS.add(password)
    if await store.auth.user_count() == 0:
        shown = password or random_password()
        SECRETS.add(shown)
        hashed = await asyncio.to_thread(hash_password, shown)
        await store.auth.add_user(ADMIN, hashed, is_admin=True)
        await store.audit.record("c66d", "user.create", target=ADMIN,
                                 detail={"admin": True, "first_start": True})
        if not password:
            path = data_dir.keys / "admin-password"
            write_private(path, (shown + "\n").encode())
            # Printed, not logged: the log file must never hold a password.
            print(f"c66d: first start: user `admin`, password {shown}"
                  f" (also in {path}, readable only by you)", flush=True)
        return
    if not password:
        return
    admin = await store.auth.find_user(ADMIN)
    if admin is None:
        return
    if not await asyncio.to_thread(verify_password, password, admin.password_hash):
        await store.auth.set_password(ADMIN, await asyncio.to_thread(hash_password, password))
        await store.audit.record("c66d", "user.password", target=ADMIN,
                                 detail={"from": "admin_password setting"})
        log.info("the admin password was reset from the admin_password setting")
        with contextlib.suppress(FileNotFoundError):
            (data_dir.keys / "admin-password").unlink()
