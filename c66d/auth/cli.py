"""`c66d users add|list|passwd|remove`: manage users on the host, straight on the data directory.

Works whether or not `c66d serve` runs (SQLite takes care of the concurrent writer). A changed
password ends that user's UI sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from c66d import cli
from c66d.auth.crypto import hash_password, random_password
from c66d.auth.registry import RESERVED_NAMES
from c66d.clicmd.local import add_data_dir_flags, existing_data_dir, with_action
from c66d.errors import Invalid
from c66d.store import Store

MIN_PASSWORD = 8


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated): from stdin with --password-stdin, else a random one."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < MIN_PASSWORD:
            raise Invalid(f"password must be at least {MIN_PASSWORD} characters")
        return password, False
    return random_password(), True


async def _with_store(args: argparse.Namespace) -> Store:
    store = Store(existing_data_dir(args).database)
    await store.open()
    return store


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _run(args: argparse.Namespace) -> int:
    store = await _with_store(args)
    try:
        return await _action(store, args)
    finally:
        await store.close()


async def _action(store: Store, args: argparse.Namespace) -> int:
    action = args.users_command
    if action == "list":
        for user in await store.auth.users():
            print(f"{user.name}\t{'admin' if user.is_admin else 'user'}")
        return 0
    name = args.name
    if action == "add":
        if name in RESERVED_NAMES:
            raise Invalid(f"the user name {name!r} is reserved")
        password, generated = _read_password(args)
        await store.auth.add_user(name, await asyncio.to_thread(hash_password, password),
                                  is_admin=args.admin)
        await store.audit.record(_actor(), "user.create", target=name, address="local",
                                 detail={"admin": args.admin})
    elif action == "passwd":
        password, generated = _read_password(args)
        await store.auth.set_password(name, await asyncio.to_thread(hash_password, password))
        await store.audit.record(_actor(), "user.password", target=name, address="local")
    else:
        await store.auth.remove_user(name)
        await store.audit.record(_actor(), "user.delete", target=name, address="local")
        print(f"removed {name}")
        return 0
    print(f"{name}: password {password}" if generated else f"{name}: password set")
    return 0


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    users = sub.add_parser("users", help="manage users on this host (add, list, passwd, remove)")
    users.set_defaults(handler=with_action(
        "users_command", "c66d users {add,list,passwd,remove} ...", _run))
    actions = users.add_subparsers(dest="users_command", metavar="ACTION")
    for action, text in (("add", "add a user (random password unless --password-stdin)"),
                         ("list", "list users"),
                         ("passwd", "set a user's password (random unless --password-stdin)"),
                         ("remove", "remove a user")):
        p = actions.add_parser(action, help=text)
        add_data_dir_flags(p)
        if action != "list":
            p.add_argument("name")
        if action in ("add", "passwd"):
            p.add_argument("--password-stdin", action="store_true",
                           help="read the password from the first line of stdin")
        if action == "add":
            p.add_argument("--admin", action="store_true", help="a global administrator")


cli.register(add_parser)
