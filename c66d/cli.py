"""The `c66d` command: `serve` (default), `version`, `config show`, and the client commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from c66d import __version__
from c66d.config import Config, load_config
from c66d.errors import C66dError

# Command name -> (module that adds it with `register`, help). Imported only when used.
COMMANDS: dict[str, tuple[str, str]] = {
    "stacks": ("c66d.clicmd.stacks", "list stacks"),
    "stack": ("c66d.clicmd.stacks", "show, create, update or delete a stack"),
    "deploy": ("c66d.clicmd.deploy", "deploy a stack (--follow shows progress)"),
    "rollback": ("c66d.clicmd.deploy", "roll a stack back to an earlier deployment"),
    "scale": ("c66d.clicmd.deploy", "set how many containers a service runs"),
    "deployments": ("c66d.clicmd.deploy", "a stack's deployments, newest first"),
    "containers": ("c66d.clicmd.containers", "containers c66d runs"),
    "logs": ("c66d.clicmd.containers", "a container's log (--follow streams it)"),
    "images": ("c66d.clicmd.images", "images in the built-in registry"),
    "dns": ("c66d.clicmd.images", "the records the DNS server answers now"),
    "build": ("c66d.build.cli", "build a service from git (queue it; --follow)"),
    "builds": ("c66d.build.cli", "list builds, newest first"),
    "servers": ("c66d.orchestrator.cli_servers", "servers c66d drives over SSH"),
    "users": ("c66d.auth.cli", "manage users on this host (add, list, passwd, remove)"),
    "registry": ("c66d.registry.cli", "registry contents and garbage collection"),
}
# Subcommands other modules add: name -> (configure parser, run). Filled by `register`.
Handler = Callable[[argparse.Namespace], int]
_EXTRA: list[Callable[[argparse._SubParsersAction[Any]], None]] = []


def register(add: Callable[[argparse._SubParsersAction[Any]], None]) -> None:
    """Let a client-command module add its subcommands."""
    _EXTRA.append(add)


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file with settings")
    parser.add_argument("--data-dir", help="data directory (default ./c66d-data)")
    parser.add_argument("--http", help="HOST:PORT for HTTP (default 127.0.0.1:8066)")
    parser.add_argument("--dns", help="HOST:PORT for DNS (default 127.0.0.1:5353)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; `command` (the first word) picks which command module is imported."""
    parser = argparse.ArgumentParser(
        prog="c66d", description="Self-hosted Docker in production, in one process."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_p = sub.add_parser("serve", help="run c66d (the default command)")
    _add_server_flags(serve_p)
    sub.add_parser("version", help="print the version")
    config_p = sub.add_parser("config", help="settings")
    config_sub = config_p.add_subparsers(dest="config_command", metavar="ACTION")
    show_p = config_sub.add_parser("show", help="print every setting and its value")
    _add_server_flags(show_p)
    _add_commands(sub, command)
    return parser


def _add_commands(sub: argparse._SubParsersAction[Any], command: str | None) -> None:
    """Import only the module of the command given (a subsystem import costs start time);
    the others appear in `--help` from COMMANDS without being imported."""
    module = COMMANDS.get(command or "", (None, ""))[0]
    if module is not None:
        importlib.import_module(module)  # it calls `register(...)`
    for add in _EXTRA:
        add(sub)
    for name, (_, text) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=text)


def config_from_args(args: argparse.Namespace) -> Config:
    flags = {
        "data_dir": getattr(args, "data_dir", None),
        "http": getattr(args, "http", None),
        "dns": getattr(args, "dns", None),
        "log_level": getattr(args, "log_level", None),
    }
    return load_config(file=getattr(args, "config", None), flags=flags)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command in (None, "serve"):
        from c66d.serve import serve

        return serve(config_from_args(args))
    if args.command == "version":
        print(f"c66d {__version__}")
        return 0
    if args.command == "config":
        if args.config_command != "show":
            parser.parse_args(["config", "--help"])
            return 2
        for name, value in config_from_args(args).shown().items():
            print(f"{name} = {value}")
        return 0
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or (words[0].startswith("-") and words[0] not in {"-h", "--help"}):
        words.insert(0, "serve")  # `c66d --http ...` means `c66d serve --http ...`
    parser = build_parser(words[0])
    args = parser.parse_args(words)
    try:
        return _run(args, parser)
    except C66dError as exc:
        print(f"c66d: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
