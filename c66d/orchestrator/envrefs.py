"""`_env(VAR)` and `_env(VAR:default)` references from a service's env_vars to stack variables."""

from __future__ import annotations

import re
from collections.abc import Mapping

from c66d.errors import Invalid

_REF = re.compile(r"_env\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::([^)]*))?\)")


class MissingVariable(Invalid):
    code = "MISSING_VARIABLE"


def resolve(service: str, env_vars: Mapping[str, str], stack_env: Mapping[str, str]
            ) -> dict[str, str]:
    """Every value with its references replaced; a reference to an unset variable without a
    default raises MissingVariable naming the service and key."""
    missing: list[str] = []

    def substitute(key: str, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in stack_env:
                return stack_env[name]
            if default is not None:
                return default
            missing.append(f"services.{service}.env_vars.{key} needs stack variable {name}")
            return ""

        return _REF.sub(one, value)

    resolved = {key: substitute(key, value) for key, value in env_vars.items()}
    if missing:
        raise MissingVariable("; ".join(missing), detail=missing)
    return resolved
