"""The UI's small text helpers: what a person reads for an event on the dashboard."""

from __future__ import annotations

from c66d.web.uikit import event_summary


def test_an_event_reads_as_a_short_line_without_ids_or_digests() -> None:
    step = {"deployment": 3, "stack": "shop", "number": 3, "step": "start", "service": "web",
            "server": "local", "status": "ok", "message": "shop-web-3-1 10.66.1.4"}
    assert event_summary(step) == "deployment #3 web on local start ok — shop-web-3-1 10.66.1.4"
    started = {"id": "4c3a" * 16, "name": "shop-web-3-1", "stack": "shop", "service": "web",
               "server": "local", "address": "10.66.1.4", "version": 3, "ports": []}
    assert event_summary(started) == "web shop-web-3-1 on local 10.66.1.4"
    build = {"build": 1, "stack": "shop", "service": "web", "status": "succeeded",
             "digest": "sha256:" + "0" * 64, "image": "127.0.0.1:1/shop/web:abc", "reason": ""}
    assert event_summary(build) == "build #1 web succeeded"
    assert event_summary({"server": "web1", "reason": "SSH refused"}) == "on web1 — SSH refused"
    assert event_summary({}) == ""
