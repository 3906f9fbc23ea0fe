"""Logging: context-carrying adapters and a filter that keeps secrets out of every line."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any


class ContextAdapter(logging.LoggerAdapter[logging.Logger]):
    """Prefixes messages with `[key=value ...]`, e.g. `[build=42 stack=shop]`."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = self.extra or {}
        context = " ".join(f"{k}={v}" for k, v in extra.items())
        return (f"[{context}] {msg}" if context else msg), kwargs


def get_logger(name: str, **context: Any) -> ContextAdapter:
    return ContextAdapter(logging.getLogger(name), context)


class SecretFilter(logging.Filter):
    """Replaces every registered secret value by `***` in formatted records."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        if len(secret) >= 4:
            self._secrets.add(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
        return True


SECRETS = SecretFilter()


def setup_logging(level: str, log_dir: Path | None) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_c66d", False):
            root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_dir / "c66d.log", maxBytes=10_000_000, backupCount=3
            )
        )
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(SECRETS)
        handler._c66d = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
