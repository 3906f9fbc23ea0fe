"""Read YAML keeping line numbers, so every error can name its key path and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path} (line {self.line}): {self.message}"


@dataclass
class Problems:
    found: list[Problem] = field(default_factory=list)

    def add(self, path: str, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.found.append(Problem(path, line, message))


def compose(text: str) -> tuple[yaml.Node | None, Problem | None]:
    """The node tree, or the syntax error with its line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 0
        return None, Problem("(file)", line, f"not valid YAML: {exc.problem}")
    except yaml.YAMLError as exc:
        return None, Problem("(file)", 0, f"not valid YAML: {exc}")


def mapping_items(node: yaml.Node) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(key text, key node, value node) of a mapping node."""
    assert isinstance(node, yaml.MappingNode)
    return [(str(k.value), k, v) for k, v in node.value]


def plain(node: yaml.Node) -> Any:
    """The Python value of a node (safe types only)."""
    return yaml.SafeLoader("").construct_object(node, deep=True)
