"""The overlay's plan as data: WireGuard configuration, peers, routes and firewall rules."""

from __future__ import annotations

from c66d.net.mesh import (
    Node,
    firewall_rules,
    interface_name,
    parse_endpoints,
    parse_handshakes,
    peers_for,
    route_changes,
    rule_argv,
    wg_config,
)

NODES = [Node("local", "10.66.1.0/24", "KL=", ""), Node("web1", "10.66.2.0/24", "K1=", "192.0.2.5"),
         Node("web2", "10.66.3.0/24", "K2=", "fd00::7")]


def test_each_node_peers_with_every_other_one_for_its_subnet() -> None:
    peers = peers_for("web1", NODES, 51866, control_endpoint="192.0.2.1")
    assert [(p.server, p.endpoint, p.allowed) for p in peers] == [
        ("local", "192.0.2.1:51866", "10.66.1.0/24"), ("web2", "[fd00::7]:51866", "10.66.3.0/24")]
    # the c66d host reaches servers at their addresses
    assert [p.endpoint for p in peers_for("local", NODES, 51866, "")] == [
        "192.0.2.5:51866", "[fd00::7]:51866"]


def test_wireguard_config_carries_key_port_and_peers() -> None:
    text = wg_config("PRIV=", 51866, peers_for("local", NODES, 51866, ""))
    assert text.startswith("[Interface]\nPrivateKey = PRIV=\nListenPort = 51866\n")
    assert "[Peer]\nPublicKey = K1=\nAllowedIPs = 10.66.2.0/24\nPersistentKeepalive = 25\n" \
        "Endpoint = 192.0.2.5:51866\n" in text
    assert text.count("[Peer]") == 2


def test_routes_are_made_exactly_the_wanted_ones() -> None:
    present = "10.66.3.0/24 scope link src 10.66.2.1 \n10.66.9.0/24 scope link \n"
    assert route_changes("c66dw2", "10.66.2.0/24", ["10.66.1.0/24", "10.66.3.0/24"], present) == [
        ["ip", "route", "del", "10.66.9.0/24", "dev", "c66dw2"],
        ["ip", "route", "replace", "10.66.1.0/24", "dev", "c66dw2", "src", "10.66.2.1"],
        ["ip", "route", "replace", "10.66.3.0/24", "dev", "c66dw2", "src", "10.66.2.1"],
    ]


def test_interface_names_and_firewall_rules() -> None:
    assert interface_name("c66d", "10.66.0.0/16", "10.66.3.0/24") == "c66dw3"
    assert interface_name("cn1023", "10.191.240.0/20", "10.191.255.0/24") == "cn1023w15"
    rules = firewall_rules("c66dw3", "10.66.3.0/24", "10.66.0.0/16")
    assert rule_argv("-C", rules[0]) == ["iptables", "-w", "5", "-t", "filter", "-C",
                                         "DOCKER-USER", "-i", "c66dw3", "-j", "ACCEPT"]
    assert rule_argv("-I", rules[1]) == ["iptables", "-w", "5", "-t", "nat", "-I", "POSTROUTING",
                                         "-s", "10.66.3.0/24", "-d", "10.66.0.0/16", "-j",
                                         "RETURN"]


def test_wg_show_output_is_parsed() -> None:
    assert parse_handshakes("K1=\t1700000000\nK2=\t0\n") == {"K1=": 1700000000, "K2=": 0}
    assert parse_endpoints("K1=\t192.0.2.5:51866\nK2=\t(none)\n") == {
        "K1=": "192.0.2.5:51866", "K2=": ""}
