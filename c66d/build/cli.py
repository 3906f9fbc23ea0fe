"""`c66d build STACK SERVICE [--ref REF] [--follow]` and `c66d builds`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from c66d.cli import register
from c66d.client import Client, add_client_flags


def _line(build: dict[str, Any]) -> str:
    sha = build["commit"]["sha"][:12] or build["ref"] or "-"
    why = f"  {build['reason']}" if build["reason"] else ""
    return (f"{build['id']:>6}  {build['stack']}/{build['service']:<20} {build['status']:<10}"
            f" {build['branch'] or '-':<12} {sha:<12}{why}")


def run_build(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    build = client.call("POST", "/api/v1/builds",
                        {"stack": args.stack, "service": args.service, "ref": args.ref or ""})
    print(f"build {build['id']} queued: {build['stack']}/{build['service']}"
          f" at {args.ref or build['branch'] or 'the branch head'}", flush=True)
    if not args.follow:
        return 0
    out = sys.stdout.buffer
    for chunk in client.stream(f"/api/v1/builds/{build['id']}/log", {"follow": 1}):
        out.write(chunk)
        out.flush()
    final = client.call("GET", f"/api/v1/builds/{build['id']}")
    if final["status"] == "succeeded":
        print(f"build {final['id']} succeeded: {final['image']}@{final['digest']}")
        return 0
    print(f"build {final['id']} {final['status']}: {final['reason']}", file=sys.stderr)
    return 1


def list_builds(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    page = client.call("GET", "/api/v1/builds", query={
        "stack": args.stack, "service": args.service, "status": args.status,
        "limit": args.limit})
    print(f"{'ID':>6}  {'STACK/SERVICE':<25} {'STATUS':<10} {'BRANCH':<12} COMMIT")
    for build in page["items"]:
        print(_line(build))
    return 0


def _add(sub: argparse._SubParsersAction[Any]) -> None:
    build_p = sub.add_parser("build", help="build a service from git (queue it; --follow)")
    build_p.add_argument("stack")
    build_p.add_argument("service")
    build_p.add_argument("--ref", help="branch, tag or commit (default: the service's branch)")
    build_p.add_argument("--follow", action="store_true", help="stream the log until it ends")
    add_client_flags(build_p)
    build_p.set_defaults(handler=run_build)

    list_p = sub.add_parser("builds", help="list builds, newest first")
    list_p.add_argument("--stack")
    list_p.add_argument("--service")
    list_p.add_argument("--status", help="queued, running, succeeded, failed or cancelled")
    list_p.add_argument("--limit", type=int, default=20)
    add_client_flags(list_p)
    list_p.set_defaults(handler=list_builds)


register(_add)
