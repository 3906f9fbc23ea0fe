"""SQL fragments shared by the list queries: who may see which stack, keyset pages."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def stacks_clause(column: str, stacks: Collection[str] | None) -> tuple[str, list[Any]]:
    """`column IN (...)` for the stacks a caller may read; None means every stack (no clause).

    An empty collection matches nothing (a caller who may read no stack sees an empty list).
    """
    if stacks is None:
        return "", []
    if not stacks:
        return "0", []
    names = sorted(stacks)
    return f"{column} IN ({', '.join('?' for _ in names)})", list(names)


def where(clauses: list[str]) -> str:
    kept = [c for c in clauses if c]
    return f"WHERE {' AND '.join(kept)}" if kept else ""
