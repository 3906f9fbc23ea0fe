"""The spec's grammar for repository names, tags and digests (pure)."""

from __future__ import annotations

import re

from c66d.registry.errors import DigestInvalid, NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
ANY_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
MAX_NAME = 255


def check_name(name: str) -> str:
    """The repository name, or NameInvalid (no '..', no absolute path, only the grammar)."""
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        raise NameInvalid(f"invalid repository name {name[:300]!r}",
                          detail={"name": name[:300], "grammar": NAME_RE.pattern})
    return name


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_digest(digest: str) -> str:
    """A sha256 digest in canonical form, or DigestInvalid (other algorithms are refused)."""
    if DIGEST_RE.match(digest):
        return digest
    if ANY_DIGEST_RE.match(digest) and not digest.startswith("sha256:"):
        raise DigestInvalid(f"unsupported digest algorithm in {digest[:100]!r}; use sha256")
    raise DigestInvalid(f"invalid digest {digest[:100]!r}", detail={"digest": digest[:100]})


def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise TagInvalid(f"invalid tag {tag[:200]!r}", detail={"tag": tag[:200]})
    return tag


def stack_of(name: str) -> str:
    """The stack a repository belongs to: its first path component."""
    return name.split("/", 1)[0]
