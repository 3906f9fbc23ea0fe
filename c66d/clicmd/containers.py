"""`c66d containers [--stack S] [--service S] [--server S]`, `c66d logs CONTAINER [--follow]`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from c66d.cli import register
from c66d.clicmd.output import ago, show, table
from c66d.client import Client, add_client_flags


def list_containers(args: argparse.Namespace) -> int:
    query = {"stack": args.stack, "service": args.service, "server": args.server, "limit": 500}
    items = list(Client.from_args(args).items("/api/v1/containers", query))
    show(args, items, lambda rows: table(
        ["ID", "NAME", "STACK/SERVICE", "SERVER", "ADDRESS", "STATE", "HEALTH", "DEPLOYMENT",
         "UPDATED"],
        [(c["id"][:12], c["name"], f"{c['stack']}/{c['service']}", c["server"], c["address"],
          c["state"], c["health"], c["deployment"], ago(c["updated_at"])) for c in rows]))
    return 0


def container_log(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    query: dict[str, Any] = {"follow": 1 if args.follow else None, "tail": args.tail}
    out = sys.stdout.buffer
    for chunk in client.stream(f"/api/v1/containers/{args.container}/log", query):
        out.write(chunk)
        out.flush()
    return 0


def _add(sub: argparse._SubParsersAction[Any]) -> None:
    list_p = sub.add_parser("containers", help="containers c66d runs")
    list_p.add_argument("--stack")
    list_p.add_argument("--service")
    list_p.add_argument("--server")
    add_client_flags(list_p)
    list_p.set_defaults(handler=list_containers)
    logs_p = sub.add_parser("logs", help="a container's log (--follow streams it)")
    logs_p.add_argument("container", help="container id (12+ characters) or name")
    logs_p.add_argument("--follow", "-f", action="store_true", help="keep streaming new lines")
    logs_p.add_argument("--tail", help="only the last N lines")
    add_client_flags(logs_p)
    logs_p.set_defaults(handler=container_log)


register(_add)
