"""`c66d images [REPOSITORY]` (the built-in registry) and `c66d dns [--stack S]`."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from c66d.cli import register
from c66d.clicmd.output import ago, show, table
from c66d.client import Client, add_client_flags


def list_images(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    if args.repository is None:
        items = list(client.items("/api/v1/registry/repositories",
                                  {"stack": args.stack, "limit": 500}))
        show(args, items, lambda rows: table(
            ["REPOSITORY", "TAGS", "MANIFESTS", "LAST PUSH"],
            [(r["name"], r["tags"], r["manifests"], ago(r["last_push"])) for r in rows]))
        return 0
    host = urlsplit(client.url).netloc
    tags = list(client.items(f"/api/v1/registry/repositories/{args.repository}/tags",
                             {"limit": 500}))
    show(args, tags, lambda rows: table(
        ["TAG", "DIGEST", "SIZE", "PUSHED", "BUILD", "COMMIT"],
        [(t["tag"], t["digest"][:19], t["size"], ago(t["pushed_at"]), t["build_id"],
          t["git_commit"][:12]) for t in rows])
        + f"\n\ndocker pull {host}/{args.repository}:<tag>")
    return 0


def list_dns(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    records: list[dict[str, Any]] = []
    query: dict[str, Any] = {"stack": args.stack, "limit": 5000}
    for _ in range(1000):
        page = client.call("GET", "/api/v1/dns/records", query=query)
        records.extend(page["records"])
        if not page["next"]:
            break
        query["cursor"] = page["next"]
    show(args, records, lambda rows: table(
        ["NAME", "TYPE", "DATA"], [(r["name"], r["type"], r["data"]) for r in rows]))
    return 0


def _add(sub: argparse._SubParsersAction[Any]) -> None:
    images_p = sub.add_parser("images", help="images in the built-in registry")
    images_p.add_argument("repository", nargs="?", help="list this repository's tags")
    images_p.add_argument("--stack", help="only this stack's repositories")
    add_client_flags(images_p)
    images_p.set_defaults(handler=list_images)
    dns_p = sub.add_parser("dns", help="the records the DNS server answers now")
    dns_p.add_argument("--stack")
    add_client_flags(dns_p)
    dns_p.set_defaults(handler=list_dns)


register(_add)
