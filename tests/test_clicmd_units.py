"""Pure pieces of the CLI's output."""

from __future__ import annotations

from c66d.clicmd.stacks import _port


def test_ports_read_as_service_yml_writes_them() -> None:
    assert _port({"container": 8000, "http": None, "https": None}) == "8000"
    assert _port({"container": 3000, "http": 80, "https": None}) == "3000:80"
    assert _port({"container": 3000, "http": 80, "https": 443}) == "3000:80:443"
    assert _port({"container": 5432, "http": None, "tcp": 5432}) == "5432 tcp/5432"
