"""`c66d stacks` and `c66d stack show|create|update|delete NAME [--file service.yml]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from c66d.cli import register
from c66d.clicmd.output import ago, show, table
from c66d.client import Client, add_client_flags
from c66d.errors import C66dError


def _services(stack: dict[str, Any]) -> str:
    return " ".join(f"{s['name']}x{s['count']}" for s in stack["services"])


def list_stacks(args: argparse.Namespace) -> int:
    items = list(Client.from_args(args).items("/api/v1/stacks", {"limit": 200}))
    show(args, items, lambda rows: table(
        ["NAME", "SERVICES", "AUTO DEPLOY", "UPDATED"],
        [(s["name"], _services(s), "yes" if s["auto_deploy"] else "no", ago(s["updated_at"]))
         for s in rows]))
    return 0


def _port(port: dict[str, Any]) -> str:
    """A port as service.yml writes it: `3000`, `3000:80`, `3000:80:443`, `5432 tcp/5432`."""
    text = str(port.get("container"))
    if port.get("http") or port.get("https"):
        text += f":{port.get('http') or ''}" + (f":{port['https']}" if port.get("https") else "")
    return text + "".join(f" {kind}/{port[kind]}" for kind in ("tcp", "udp") if port.get(kind))


def _describe(stack: dict[str, Any]) -> str:
    rows = [(s["name"], s["image"] or f"{s['git_url']}#{s['git_branch']}", s["count"],
             " ".join(_port(p) for p in s["ports"]))
            for s in stack["services"]]
    return (f"stack {stack['name']}  hook {stack['hook_url']}\n"
            + table(["SERVICE", "IMAGE / SOURCE", "COUNT", "PORTS"], rows))


def _read_file(path: Path | None) -> str:
    if path is None:
        raise C66dError("--file service.yml is needed")
    try:
        return path.read_text()
    except OSError as exc:
        raise C66dError(f"cannot read {path}: {exc.strerror}") from None


def run_stack(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    action, name = args.stack_command, args.name
    if action == "show":
        show(args, client.call("GET", f"/api/v1/stacks/{name}"), _describe)
    elif action == "create":
        body = {"name": name, "service_yml": _read_file(args.file)}
        created = client.call("POST", "/api/v1/stacks", body)
        show(args, created, lambda s: f"stack {s['name']} created\n" + _describe(s))
    elif action == "update":
        updated = client.call("PUT", f"/api/v1/stacks/{name}",
                              {"service_yml": _read_file(args.file)})
        show(args, updated, lambda s: f"stack {s['name']} updated\n" + _describe(s))
    else:
        client.call("DELETE", f"/api/v1/stacks/{name}")
        show(args, {"deleted": name}, lambda _: f"stack {name} deleted")
    return 0


def _add(sub: argparse._SubParsersAction[Any]) -> None:
    stacks_p = sub.add_parser("stacks", help="list stacks")
    add_client_flags(stacks_p)
    stacks_p.set_defaults(handler=list_stacks)
    stack_p = sub.add_parser("stack", help="show, create, update or delete a stack")
    actions = stack_p.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    for action, text in (("show", "a stack, its services and counts"),
                         ("create", "create a stack from a service.yml"),
                         ("update", "replace a stack's service.yml"),
                         ("delete", "delete a stack")):
        p = actions.add_parser(action, help=text)
        p.add_argument("name")
        if action in ("create", "update"):
            p.add_argument("--file", "-f", type=Path, required=True, help="the service.yml")
        add_client_flags(p)
        p.set_defaults(handler=run_stack)


register(_add)
