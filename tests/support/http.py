"""Credentials and small HTTP helpers for tests."""

from __future__ import annotations

from aiohttp import encode_basic_auth

ADMIN_PASSWORD = "admin-password-for-tests"


def basic(user: str, password: str) -> dict[str, str]:
    """Headers for HTTP Basic (aiohttp's BasicAuth is deprecated)."""
    return {"Authorization": encode_basic_auth(user, password)}


ADMIN = basic("admin", ADMIN_PASSWORD)
