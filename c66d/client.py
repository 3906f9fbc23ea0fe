"""A small HTTP client for the c66d API, shared by every client command of the CLI.

Where and who: `--url` or `C66D_URL` (default http://127.0.0.1:8066); an API token from
`--token` or `C66D_TOKEN` (sent as Bearer), else `--user`/`--password` or
`C66D_USER`/`C66D_PASSWORD` (HTTP Basic). `url`, `token` and `user` may also come from a TOML
file: `C66D_CLIENT_CONFIG`, or ~/.config/c66d/client.toml.
"""

from __future__ import annotations

import argparse
import base64
import os
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from c66d import jsonio
from c66d.errors import C66dError

DEFAULT_URL = "http://127.0.0.1:8066"


class ApiError(C66dError):
    """The API answered with an error; the message is its own."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status} {code})")
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Client:
    url: str
    headers: Mapping[str, str] = field(repr=False, default_factory=dict)
    timeout: float = 30.0

    @classmethod
    def from_args(cls, args: argparse.Namespace,
                  environ: Mapping[str, str] | None = None) -> Client:
        env = os.environ if environ is None else environ
        saved = client_config(env)
        url = getattr(args, "url", None) or env.get("C66D_URL") or saved.get("url") \
            or DEFAULT_URL
        token = getattr(args, "token", None) or env.get("C66D_TOKEN") or saved.get("token")
        user = getattr(args, "user", None) or env.get("C66D_USER") or saved.get("user") \
            or "admin"
        password = getattr(args, "password", None) or env.get("C66D_PASSWORD")
        headers: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif password:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return cls(url.rstrip("/"), headers)

    def _request(self, method: str, path: str, body: Any = None,
                 query: Mapping[str, Any] | None = None) -> urllib.request.Request:
        params = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        target = f"{self.url}{path}" + (f"?{urlencode(params)}" if params else "")
        data = None if body is None else jsonio.dumpb(body)
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(  # noqa: S310 - scheme checked in _open
            target, data=data, method=method, headers=headers)

    def _open(self, request: urllib.request.Request, timeout: float | None) -> Any:
        if not request.full_url.startswith(("http://", "https://")):
            raise C66dError(f"the c66d URL must start with http:// or https://: {self.url}")
        try:
            return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - checked
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except urllib.error.URLError as exc:
            raise C66dError(f"cannot reach c66d at {self.url}: {exc.reason}") from None

    def call(self, method: str, path: str, body: Any = None,
             query: Mapping[str, Any] | None = None) -> Any:
        """One JSON request; returns the decoded answer."""
        with self._open(self._request(method, path, body, query), self.timeout) as resp:
            raw = resp.read()
        return jsonio.loads(raw) if raw else None

    def items(self, path: str, query: Mapping[str, Any] | None = None,
              most: int = 100_000) -> Iterator[Any]:
        """Every item of a paged list, following `next` (at most `most` items)."""
        params = dict(query or {})
        seen = 0
        while True:
            page = self.call("GET", path, query=params)
            for item in page["items"]:
                yield item
                seen += 1
                if seen >= most:
                    return
            if not page.get("next"):
                return
            params["cursor"] = page["next"]

    def stream(self, path: str, query: Mapping[str, Any] | None = None) -> Iterator[bytes]:
        """A streamed answer (e.g. a log with follow=1), chunk by chunk, without a time limit."""
        with self._open(self._request("GET", path, None, query), None) as resp:
            while chunk := resp.read1(65536):
                yield chunk


def client_config(env: Mapping[str, str]) -> dict[str, str]:
    """`url`, `token` and `user` from the client file: C66D_CLIENT_CONFIG, else
    ~/.config/c66d/client.toml (absent: nothing)."""
    path = Path(env["C66D_CLIENT_CONFIG"]) if env.get("C66D_CLIENT_CONFIG") else \
        Path(env.get("HOME", "~")).expanduser() / ".config" / "c66d" / "client.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise C66dError(f"cannot read the client settings {path}: {exc}") from None
    return {k: str(data[k]) for k in ("url", "token", "user") if k in data}


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    try:
        body = jsonio.loads(exc.read())
        error = body["error"]
        return ApiError(exc.code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return ApiError(exc.code, "HTTP", str(exc.reason))


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"c66d's URL (env C66D_URL, default {DEFAULT_URL})")
    parser.add_argument("--token", help="API token (env C66D_TOKEN)")
    parser.add_argument("--user", help="user name for --password (env C66D_USER, default admin)")
    parser.add_argument("--password", help="password (env C66D_PASSWORD)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
