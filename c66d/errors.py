"""One error hierarchy; one middleware renders it per door (API, registry, UI)."""

from __future__ import annotations

from typing import Any


class C66dError(Exception):
    """Base of every error c66d reports to a user."""

    status = 500
    code = "INTERNAL"

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class Invalid(C66dError):
    """The request or a file in it is malformed; `detail` lists what and where."""

    status = 400
    code = "INVALID"


class Unauthorized(C66dError):
    """No or bad credentials."""

    status = 401
    code = "UNAUTHORIZED"


class Forbidden(C66dError):
    """Credentials are good but the role does not allow this."""

    status = 403
    code = "DENIED"


class NotFound(C66dError):
    status = 404
    code = "NOT_FOUND"


class Conflict(C66dError):
    status = 409
    code = "CONFLICT"


class Unavailable(C66dError):
    """A part c66d depends on (Docker engine, a server) does not answer."""

    status = 503
    code = "UNAVAILABLE"


class ConfigError(C66dError):
    """A setting is unknown or has a bad value; the message names the key."""

    code = "CONFIG"


class DataDirLocked(C66dError):
    """Another c66d process holds the data directory."""

    code = "LOCKED"
