"""The servers page's "Provision on a cloud" form and list, with libcloud's own Dummy driver:
admins only, CSRF-checked, every refusal shown on the page, the account's key never put back
into a page, the provisioned node listed with its state until its server is removed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.auth import cast
from tests.support.http import ADMIN, ADMIN_PASSWORD
from tests.test_auth_ui import page_csrf, sign_in

Client = TestClient[Any, Any]
KEY = "dummy-account-key-never-shown"
SECRET = "dummy-account-secret-never-shown"
GOOD = {"name": "cloud1", "driver": "dummy", "key": KEY, "secret": "", "size": "1",
        "image": "1", "location": "", "port": "22", "user": "root", "roles": "app"}


async def provision_state(client: Client, name: str, timeout: float = 30) -> dict[str, Any]:
    """The provision record once it left `booting` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = await (await client.get("/api/v1/provisions", headers=ADMIN)).json()
        found = [r for r in listed["items"] if r["server"] == name]
        if found and found[0]["state"] != "booting":
            return found[0]
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.1)


async def test_only_admins_see_and_use_the_provision_form(client: Client) -> None:
    people = await cast(client)
    for person in ("viewer", "deployer", "stack_admin"):
        page = await (await client.get("/servers", headers=people.headers[person])).text()
        assert "Provision on a cloud" not in page and "Servers made on a cloud" not in page
        resp = await client.post("/servers/provisions", data=GOOD,
                                 headers=people.headers[person], allow_redirects=False)
        assert resp.status == 403, person
    listed = await (await client.get("/api/v1/provisions", headers=ADMIN)).json()
    assert listed["items"] == []


async def test_provision_from_the_servers_page_never_echoes_the_key(client: Client) -> None:
    await sign_in(client, "admin", ADMIN_PASSWORD)
    token = await page_csrf(client, "/servers")
    page = await (await client.get("/servers")).text()
    assert "No server was made on a cloud yet." in page and 'name="key" type="password"' in page

    resp = await client.post("/servers/provisions", data=GOOD)  # no CSRF token
    assert resp.status == 403 and "CSRF" in await resp.text()

    refusals = [({"driver": "nosuchcloud", "secret": SECRET}, 400, "nosuchcloud"),
                ({"size": "huge"}, 400, "no size &#39;huge&#39;"),
                ({"name": "Bad_Name", "secret": SECRET}, 400, "name"),
                # the Dummy driver takes no secret: the provider's refusal is shown
                ({"secret": SECRET}, 502, "dummy did not create cloud1")]
    for change, status, shown in refusals:
        resp = await client.post("/servers/provisions",
                                 data={**GOOD, **change, "csrf_token": token})
        text = await resp.text()
        assert resp.status == status, (change, resp.status)
        assert 'id="provision-errors"' in text and shown in text, change
        assert KEY not in text and SECRET not in text, change
        kept = change.get("driver", "dummy")
        assert f'name="driver" value="{kept}"' in text  # the rest is filled in again
    assert (await (await client.get("/api/v1/provisions", headers=ADMIN)).json())["items"] == []

    resp = await client.post("/servers/provisions", data={**GOOD, "csrf_token": token})
    text = await resp.text()
    assert resp.status == 200 and resp.url.path == "/servers"
    assert KEY not in text and SECRET not in text
    assert '<a href="/servers/cloud1">cloud1</a></td><td>dummy</td>' in text
    record = await provision_state(client, "cloud1")
    assert (record["state"], record["node_id"], record["address"]) == ("ready", "3",
                                                                       "127.0.0.3")
    text = await (await client.get("/servers")).text()
    assert 'state-ready">ready' in text and "127.0.0.3" in text and KEY not in text
    audit = await (await client.get("/api/v1/audit?action=server.provision",
                                    headers=ADMIN)).json()
    assert [e["target"] for e in audit["items"]] == ["cloud1"]
    assert KEY not in str(audit) and SECRET not in str(audit)

    resp = await client.post("/servers/cloud1/remove", data={"csrf_token": token})
    assert resp.status == 200
    deadline = time.monotonic() + 10
    while (await (await client.get("/api/v1/provisions", headers=ADMIN)).json())["items"]:
        assert time.monotonic() < deadline, "the node outlived its server"
        await asyncio.sleep(0.05)
    assert "No server was made on a cloud yet." in await (await client.get("/servers")).text()
