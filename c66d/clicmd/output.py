"""How client commands print: aligned tables for people, JSON with `--json` for scripts."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from c66d import jsonio


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(h) for h in headers], *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return str(value)


def ago(when: float | None) -> str:
    if not when:
        return "-"
    seconds = max(0, int(time.time() - when))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def show(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    """Print `data` as JSON with --json, else as `human(data)` says."""
    if getattr(args, "json", False):
        sys.stdout.write(jsonio.dumps(data, pretty=True) + "\n")
    else:
        text = human(data)
        if text:
            print(text)
