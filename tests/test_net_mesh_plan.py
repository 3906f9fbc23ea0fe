"""The overlay's plan as data: WireGuard configuration, peers, routes and firewall rules; the
VXLAN interface, forwarding entries, neighbours and routes."""

from __future__ import annotations

from c66d.net.mesh import (
    Node,
    fdb_changes,
    firewall_rules,
    interface_name,
    neighbour_changes,
    parse_endpoints,
    parse_fdb,
    parse_handshakes,
    peers_for,
    route_changes,
    rule_argv,
    vxlan_create,
    vxlan_mac,
    vxlan_matches,
    vxlan_peers,
    vxlan_route_changes,
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


def test_vxlan_peers_have_a_mac_a_tunnel_address_and_an_underlay_address() -> None:
    peers = vxlan_peers("web1", NODES, "10.66.0.0/16", control_endpoint="192.0.2.1")
    assert [(p.server, p.mac, p.vtep, p.underlay, p.subnet) for p in peers] == [
        ("local", "02:c6:6d:00:00:01", "10.66.1.0", "192.0.2.1", "10.66.1.0/24"),
        ("web2", "02:c6:6d:00:00:03", "10.66.3.0", "fd00::7", "10.66.3.0/24")]
    assert vxlan_mac("10.66.0.0/16", "10.66.255.0/24") == "02:c6:6d:00:00:ff"
    assert interface_name("c66d", "10.66.0.0/16", "10.66.2.0/24", "vxlan") == "c66dx2"
    assert vxlan_create("c66dx2", "02:c6:6d:00:00:02", 51866) == [
        "ip", "link", "add", "c66dx2", "address", "02:c6:6d:00:00:02", "type", "vxlan", "id",
        "66", "dstport", "51866", "nolearning"]


def test_vxlan_interface_is_checked_against_what_it_should_be() -> None:
    shown = ("2504: c66dx2: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT\\"
             "    link/ether 02:c6:6d:00:00:02 brd ff:ff:ff:ff:ff:ff promiscuity 0 \\    vxlan "
             "id 66 srcport 0 0 dstport 51866 nolearning ttl auto ageing 300 udpcsum")
    assert vxlan_matches(shown, "02:c6:6d:00:00:02", 51866)
    assert not vxlan_matches(shown, "02:c6:6d:00:00:02", 51867)  # another port: made again
    assert not vxlan_matches(shown, "02:c6:6d:00:00:03", 51866)
    assert not vxlan_matches(shown.replace("id 66", "id 7"), "02:c6:6d:00:00:02", 51866)


def test_vxlan_entries_neighbours_and_routes_become_exactly_the_wanted_ones() -> None:
    peers = vxlan_peers("local", NODES, "10.66.0.0/16", "")
    fdb = ("02:c6:6d:00:00:02 dst 192.0.2.5 self permanent\n"
           "02:c6:6d:00:00:09 dst 192.0.2.9 self permanent\n")  # a server that left
    assert fdb_changes("c66dx1", peers, fdb) == [
        ["bridge", "fdb", "del", "02:c6:6d:00:00:09", "dev", "c66dx1", "dst", "192.0.2.9", "self"],
        ["bridge", "fdb", "append", "02:c6:6d:00:00:03", "dev", "c66dx1", "dst", "fd00::7",
         "self", "permanent"]]
    assert parse_fdb(fdb) == {"02:c6:6d:00:00:02": ["192.0.2.5"],
                              "02:c6:6d:00:00:09": ["192.0.2.9"]}
    neigh = "10.66.2.0 lladdr 02:c6:6d:00:00:02 PERMANENT\n10.66.9.0 lladdr 02:c6:6d:00:00:09 \n"
    assert neighbour_changes("c66dx1", peers, neigh) == [
        ["ip", "neigh", "del", "10.66.9.0", "dev", "c66dx1"],
        ["ip", "neigh", "replace", "10.66.3.0", "lladdr", "02:c6:6d:00:00:03", "dev", "c66dx1",
         "nud", "permanent"]]
    routes = "10.66.9.0/24 via 10.66.9.0 dev c66dx1 onlink \n"
    assert vxlan_route_changes("c66dx1", "10.66.1.0/24", peers, routes) == [
        ["ip", "route", "del", "10.66.9.0/24", "dev", "c66dx1"],
        ["ip", "route", "replace", "10.66.2.0/24", "via", "10.66.2.0", "dev", "c66dx1", "onlink",
         "src", "10.66.1.1"],
        ["ip", "route", "replace", "10.66.3.0/24", "via", "10.66.3.0", "dev", "c66dx1", "onlink",
         "src", "10.66.1.1"]]
