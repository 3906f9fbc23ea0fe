"""Whole UDP replies (less their id) by query (less its id), forgotten name by name."""

from __future__ import annotations

from collections.abc import Iterable

REPLIES_KEPT = 20_000  # past this the cache starts over (random names cannot grow it)


class ReplyCache:
    """Replies that do not depend on who asks or when. Positive ones are filed under their
    (lowered, wire) name and forgotten when that name changes; negative ones carry the zone's
    SOA serial and are forgotten on every change."""

    def __init__(self) -> None:
        self.replies: dict[bytes, bytes] = {}
        self._by_name: dict[bytes, list[bytes]] = {}
        self._negative: list[bytes] = []

    def put(self, name: bytes, query: bytes, reply: bytes, negative: bool) -> None:
        if len(self.replies) >= REPLIES_KEPT:
            self.clear()
        if query in self.replies:
            return
        self.replies[query] = reply
        if negative:
            self._negative.append(query)
        else:
            self._by_name.setdefault(name, []).append(query)

    def forget(self, names: Iterable[bytes]) -> None:
        """Drop the replies about these names and every negative reply."""
        replies = self.replies
        for name in names:
            for query in self._by_name.pop(name, ()):
                replies.pop(query, None)
        for query in self._negative:
            replies.pop(query, None)
        self._negative = []

    def clear(self) -> None:
        self.replies.clear()
        self._by_name.clear()
        self._negative = []

    def __len__(self) -> int:
        return len(self.replies)
