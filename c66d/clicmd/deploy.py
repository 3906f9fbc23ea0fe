"""`c66d deploy STACK`, `rollback STACK [NUMBER]`, `scale STACK SERVICE N`, `deployments STACK`.

With `--follow` the rollout's steps print as they happen and the exit code says how it ended
(0 succeeded, 1 failed or cancelled).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from c66d.cli import register
from c66d.clicmd.output import ago, show, table
from c66d.client import Client, add_client_flags


def _follow(client: Client, args: argparse.Namespace, deployment: dict[str, Any]) -> int:
    """Print the steps live (not with --json), then the outcome; the exit code follows it."""
    stream = client.stream(f"/api/v1/deployments/{deployment['id']}/log", {"follow": 1})
    for chunk in stream:
        if not args.json:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    final = client.call("GET", f"/api/v1/deployments/{deployment['id']}")
    ok = final["status"] == "succeeded"
    show(args, final, lambda d: f"deployment {d['number']} of {d['stack']} {d['status']}"
         + (f": {d['reason']}" if d["reason"] else ""))
    return 0 if ok else 1


def _started(client: Client, args: argparse.Namespace, deployment: dict[str, Any] | None,
             what: str) -> int:
    if deployment is None:
        show(args, None, lambda _: f"{what}; nothing deployed yet, so nothing rolls out")
        return 0
    if args.follow:
        if not args.json:
            print(f"{what}: deployment {deployment['number']} (id {deployment['id']})",
                  flush=True)
        return _follow(client, args, deployment)
    show(args, deployment, lambda d: f"{what}: deployment {d['number']} (id {d['id']}) started;"
         f" `c66d deploy --follow` or GET /api/v1/deployments/{d['id']} shows its progress")
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    deployment = client.call("POST", f"/api/v1/stacks/{args.stack}/deployments", {})
    return _started(client, args, deployment, f"deploying {args.stack}")


def run_rollback(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    body = {} if args.deployment is None else {"deployment": args.deployment}
    deployment = client.call("POST", f"/api/v1/stacks/{args.stack}/rollback", body)
    return _started(client, args, deployment,
                    f"rolling {args.stack} back to deployment {deployment['rollback_of']}")


def run_scale(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    answer = client.call("POST", f"/api/v1/stacks/{args.stack}/services/{args.service}/scale",
                         {"count": args.count})
    what = f"{args.stack}/{args.service} scaled to {answer['count']}"
    if answer["deployment"] is None:
        return _started(client, args, None, what)
    deployment = client.call("GET", f"/api/v1/deployments/{answer['deployment']}")
    return _started(client, args, deployment, what)


def list_deployments(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    items = list(client.items(f"/api/v1/stacks/{args.stack}/deployments",
                              {"limit": min(args.limit, 500)}, most=args.limit))
    show(args, items, lambda rows: table(
        ["NUMBER", "ID", "STATUS", "BY", "STARTED", "REASON"],
        [(d["number"], d["id"], d["status"], d["actor"], ago(d["created_at"]),
          (f"rollback of {d['rollback_of']}. " if d["rollback_of"] else "") + d["reason"])
         for d in rows]))
    return 0


def _add(sub: argparse._SubParsersAction[Any]) -> None:
    deploy_p = sub.add_parser("deploy", help="deploy a stack (--follow shows progress)")
    deploy_p.add_argument("stack")
    deploy_p.set_defaults(handler=run_deploy)
    rollback_p = sub.add_parser("rollback", help="roll a stack back to an earlier deployment")
    rollback_p.add_argument("stack")
    rollback_p.add_argument("deployment", nargs="?", type=int,
                            help="deployment number (default: the last good one before now)")
    rollback_p.set_defaults(handler=run_rollback)
    scale_p = sub.add_parser("scale", help="set how many containers a service runs")
    scale_p.add_argument("stack")
    scale_p.add_argument("service")
    scale_p.add_argument("count", type=int)
    scale_p.set_defaults(handler=run_scale)
    for p in (deploy_p, rollback_p, scale_p):
        p.add_argument("--follow", action="store_true",
                       help="print the rollout's steps until it ends; exit 1 if it fails")
        add_client_flags(p)
    list_p = sub.add_parser("deployments", help="a stack's deployments, newest first")
    list_p.add_argument("stack")
    list_p.add_argument("--limit", type=int, default=20)
    add_client_flags(list_p)
    list_p.set_defaults(handler=list_deployments)


register(_add)
