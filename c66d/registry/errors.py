"""The distribution spec's error codes as c66d errors (rendered as `{"errors": [...]}`)."""

from __future__ import annotations

from typing import Any

from c66d.errors import C66dError


class RegistryError(C66dError):
    """Base of registry errors; `headers` are added to the response by the error middleware."""

    status = 400
    code = "UNSUPPORTED"

    def __init__(self, message: str, *, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, detail=detail)
        self.headers = headers or {}


class BlobUnknown(RegistryError):
    status = 404
    code = "BLOB_UNKNOWN"


class BlobUploadInvalid(RegistryError):
    status = 400
    code = "BLOB_UPLOAD_INVALID"


class BlobUploadUnknown(RegistryError):
    status = 404
    code = "BLOB_UPLOAD_UNKNOWN"


class DigestInvalid(RegistryError):
    status = 400
    code = "DIGEST_INVALID"


class ManifestBlobUnknown(RegistryError):
    status = 400
    code = "MANIFEST_BLOB_UNKNOWN"


class ManifestInvalid(RegistryError):
    status = 400
    code = "MANIFEST_INVALID"


class ManifestUnknown(RegistryError):
    status = 404
    code = "MANIFEST_UNKNOWN"


class NameInvalid(RegistryError):
    status = 400
    code = "NAME_INVALID"


class NameUnknown(RegistryError):
    status = 404
    code = "NAME_UNKNOWN"


class SizeInvalid(RegistryError):
    status = 400
    code = "SIZE_INVALID"


class TooLarge(RegistryError):
    status = 413
    code = "SIZE_INVALID"


class TagInvalid(RegistryError):
    status = 400
    code = "TAG_INVALID"


class RangeInvalid(RegistryError):
    """An upload chunk that does not start where the upload ends (416)."""

    status = 416
    code = "BLOB_UPLOAD_INVALID"


class Unsupported(RegistryError):
    status = 400
    code = "UNSUPPORTED"
