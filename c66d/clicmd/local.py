"""Helpers for the commands that work straight on the data directory (`users`, `registry`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from c66d.datadir import DataDir
from c66d.errors import C66dError


def with_action(dest: str, usage: str, run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
                ) -> Callable[[argparse.Namespace], int]:
    """A command handler: usage (exit 2) when no ACTION was given, else `run(args)`."""

    def handle(args: argparse.Namespace) -> int:
        if getattr(args, dest, None) is None:
            print(f"usage: {usage}", file=sys.stderr)
            return 2
        return asyncio.run(run(args))

    return handle


def existing_data_dir(args: argparse.Namespace) -> DataDir:
    """The data directory the settings name; refused when c66d never ran there."""
    from c66d import cli

    data_dir = DataDir(cli.config_from_args(args).data_dir)
    if not data_dir.database.exists():
        raise C66dError(f"no c66d data directory at {data_dir.root}; run `c66d serve` once")
    return data_dir


def add_data_dir_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file with settings")
    parser.add_argument("--data-dir", help="data directory (default ./c66d-data)")
