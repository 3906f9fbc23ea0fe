"""Encryption at rest for secret values (Fernet: AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from c66d.errors import C66dError


class SecretKeyMismatch(C66dError):
    code = "SECRET_KEY_MISMATCH"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_file(cls, path: Path, override: str = "") -> SecretBox:
        """The key from `override` (setting/environment), else the file, made on first use."""
        if override:
            return cls(override.encode())
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    @classmethod
    def ephemeral(cls) -> SecretBox:
        return cls(Fernet.generate_key())

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyMismatch(
                "a secret cannot be decrypted: the secret key is not the one it was sealed with"
            ) from None
