"""`c66d registry gc|repos|tags`: registry housekeeping straight on the data directory."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from c66d import cli, jsonio
from c66d.clicmd.local import add_data_dir_flags, existing_data_dir, with_action
from c66d.config import Config
from c66d.datadir import DataDir, DataDirLock
from c66d.errors import DataDirLocked
from c66d.events import EventBus
from c66d.registry.blobs import BlobStore
from c66d.registry.gc import collect
from c66d.registry.names import check_name
from c66d.registry.service import Registry
from c66d.store import Store


async def _run(args: argparse.Namespace) -> int:
    config = cli.config_from_args(args)
    data_dir = existing_data_dir(args)
    store = Store(data_dir.database)
    await store.open()
    try:
        registry = Registry(store.registry, BlobStore(data_dir.blobs), EventBus())
        if args.registry_command == "gc":
            await _collect(registry, config, args, data_dir)
        elif args.registry_command == "repos":
            for repo in await store.registry.summaries():
                print(f"{repo.name}\t{repo.tags} tags\t{repo.manifests} manifests")
        else:
            for tag in await store.registry.tags(check_name(args.name)):
                link = f"\tbuild {tag.build_id} {tag.git_commit}" if tag.build_id else ""
                print(f"{tag.tag}\t{tag.digest}\t{tag.size}{link}")
    finally:
        await store.close()
    return 0


async def _collect(registry: Registry, config: Config, args: argparse.Namespace,
                   data_dir: DataDir) -> None:
    """GC straight on the files only while no c66d serves them: a running one is asked to."""
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        raise DataDirLocked(f"{exc.message.split(';')[0]}; garbage collection must run inside it:"
                            " POST /api/v1/registry/gc (admin), or stop it first") from None
    try:
        grace = config.registry_upload_expiry if args.grace is None else args.grace
        report = await collect(registry, untagged=args.untagged, grace=grace,
                               upload_expiry=config.registry_upload_expiry)
        print(jsonio.dumps(dataclasses.asdict(report), pretty=True))
    finally:
        lock.release()


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    registry = sub.add_parser("registry", help="registry contents and garbage collection")
    registry.set_defaults(handler=with_action(
        "registry_command", "c66d registry {gc,repos,tags} ...", _run))
    actions = registry.add_subparsers(dest="registry_command", metavar="ACTION")
    gc = actions.add_parser("gc", help="remove unreferenced blobs; report what was freed")
    gc.add_argument("--untagged", action="store_true",
                    help="also remove manifests no tag reaches")
    gc.add_argument("--grace", type=float,
                    help="spare content touched this many seconds ago (default"
                         " registry_upload_expiry)")
    actions.add_parser("repos", help="list repositories")
    tags = actions.add_parser("tags", help="list a repository's tags with their builds")
    tags.add_argument("name")
    for parser in (gc, *actions.choices.values()):
        if not any(a.dest == "data_dir" for a in parser._actions):
            add_data_dir_flags(parser)


cli.register(add_parser)
