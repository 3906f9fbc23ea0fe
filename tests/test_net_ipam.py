"""ContainerNet IPAM: the pure allocator, and the store handing out addresses under load."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from c66d.net.attach import Attachment, network_spec
from c66d.net.ipam import RangeFull, gateway, next_address, next_subnet
from c66d.net.wgkeys import key_pair
from c66d.store import Store

CLUSTER = "10.66.0.0/16"


def test_subnets_skip_the_reserved_first_one_and_those_in_use() -> None:
    assert next_subnet(CLUSTER, 24, []) == "10.66.1.0/24"
    assert next_subnet(CLUSTER, 24, ["10.66.1.0/24", "10.66.3.0/24"]) == "10.66.2.0/24"
    assert next_subnet(CLUSTER, 20, ["10.66.16.0/20"]) == "10.66.32.0/20"
    with pytest.raises(RangeFull):
        next_subnet("10.66.0.0/23", 24, ["10.66.1.0/24"])
    with pytest.raises(ValueError, match="does not fit"):
        next_subnet(CLUSTER, 16, [])


def test_addresses_skip_gateway_and_broadcast_and_follow_the_last_one() -> None:
    subnet = "10.66.1.0/24"
    assert gateway(subnet) == "10.66.1.1"
    assert next_address(subnet, []) == "10.66.1.2"
    assert next_address(subnet, ["10.66.1.2"], "10.66.1.2") == "10.66.1.3"
    # just released .2 is not handed out again at once: the cursor moves on
    assert next_address(subnet, [], "10.66.1.2") == "10.66.1.3"
    # wraps around past the end, never to .255 (broadcast) or .1 (gateway)
    assert next_address(subnet, ["10.66.1.3"], "10.66.1.254") == "10.66.1.2"
    full = [f"10.66.1.{i}" for i in range(2, 255)]
    with pytest.raises(RangeFull):
        next_address(subnet, full, "10.66.1.9")
    assert next_address("10.66.1.0/29", ["10.66.1.2", "10.66.1.3"], "10.66.1.3") == "10.66.1.4"


def test_attachment_puts_the_container_on_the_network_with_its_address_and_dns() -> None:
    config = {"Image": "x", "HostConfig": {"Memory": 5}}
    body = Attachment("c66d", "10.66.2.7", ("10.66.1.1",), ("shop.c66.internal",)).apply(config)
    assert body["HostConfig"] == {"Memory": 5, "NetworkMode": "c66d", "Dns": ["10.66.1.1"],
                                  "DnsSearch": ["shop.c66.internal"]}
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {"c66d": {"IPAMConfig": {"IPv4Address": "10.66.2.7"}}}}
    assert config["HostConfig"] == {"Memory": 5}  # the input is not changed
    spec = network_spec("c66d", "10.66.2.0/24", "10.66.2.1")
    assert spec["IPAM"]["Config"] == [{"Subnet": "10.66.2.0/24", "Gateway": "10.66.2.1"}]
    assert spec["Options"] == {"com.docker.network.bridge.name": "c66dbr"}


def test_wireguard_keys_are_32_byte_curve25519_pairs() -> None:
    private, public = key_pair()
    assert len(base64.b64decode(private)) == 32 and len(base64.b64decode(public)) == 32
    assert key_pair()[0] != private


async def test_concurrent_leases_from_two_processes_never_share_an_address(
        tmp_path: Path) -> None:
    """Two Store objects on one file stand for two c66d processes; each leases in parallel."""
    first, second = Store(tmp_path / "c.db"), Store(tmp_path / "c.db")
    await first.open()
    await second.open()
    try:
        subnet = await first.net.ensure_subnet("web1", CLUSTER, 24, key_pair())
        again = await second.net.ensure_subnet("web1", CLUSTER, 24, key_pair())
        assert again == subnet and subnet.subnet == "10.66.1.0/24"
        leases = await asyncio.gather(*(
            (first if i % 2 else second).net.lease("web1", f"c{i}", "shop") for i in range(120)))
        addresses = [lease.address for lease in leases]
        assert len(set(addresses)) == 120
        assert "10.66.1.1" not in addresses and "10.66.1.0" not in addresses
        # asking again for the same container gives its address, not a new one
        assert (await second.net.lease("web1", "c7", "shop")).address == leases[7].address
    finally:
        await first.close()
        await second.close()


async def test_released_addresses_return_to_the_pool_and_subnets_are_per_server(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    await store.open()
    try:
        one = await store.net.ensure_subnet("local", CLUSTER, 24, key_pair())
        two = await store.net.ensure_subnet("web1", CLUSTER, 24, key_pair())
        assert (one.subnet, two.subnet) == ("10.66.1.0/24", "10.66.2.0/24")
        assert (await store.net.private_key("web1")) != ""
        a = await store.net.lease("web1", "shop-web-1-1", "shop")
        assert await store.net.release("web1", "shop-web-1-1") == a.address
        assert await store.net.release("web1", "shop-web-1-1") == ""
        assert await store.net.leases("web1") == []
        b = await store.net.lease("web1", "shop-web-2-1", "shop")
        assert b.address != a.address  # not reused at once
        # an address whose container c66d never recorded goes back after a while
        assert await store.net.release_orphans(older_than=0) == 1
        assert await store.net.leases() == []
        # a removed server's subnet is free again, with its addresses
        await store.net.lease("web1", "x", "shop")
        assert await store.net.release_subnet("web1")
        assert await store.net.leases() == []
        three = await store.net.ensure_subnet("web2", CLUSTER, 24, key_pair())
        assert three.subnet == "10.66.2.0/24"
    finally:
        await store.close()
