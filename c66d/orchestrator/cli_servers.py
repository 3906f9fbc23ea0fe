"""`c66d servers [list|add|provision|provisions|remove|key|accept-key]`: servers over the API
of a running c66d. Cloud credentials for `provision` come from C66D_CLOUD_KEY and
C66D_CLOUD_SECRET (never from the command line, where `ps` shows them)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from c66d.cli import register
from c66d.client import Client, add_client_flags


def _line(server: dict[str, Any]) -> str:
    where = f"{server['user']}@{server['address']}:{server['port']}" if server["kind"] == "ssh" \
        else "(this machine)"
    why = f"  {server['reason']}" if server["reason"] else ""
    return (f"{server['name']:<20} {server['state']:<8} {where:<32}"
            f" {server['docker_version'] or '-':<16}{why}")


def run_servers(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    action = args.servers_command or "list"
    if action == "list":
        print(f"{'NAME':<20} {'STATE':<8} {'WHERE':<32} {'DOCKER':<16}")
        for server in client.call("GET", "/api/v1/servers")["items"]:
            print(_line(server))
    elif action == "key":
        print(client.call("GET", "/api/v1/servers/key")["public_key"])
    elif action == "add":
        body: dict[str, Any] = {"name": args.name, "address": args.address, "port": args.port,
                                "user": args.ssh_user, "docker_socket": args.docker_socket}
        if args.role:
            body["roles"] = args.role
        server = client.call("POST", "/api/v1/servers", body)
        print(f"server {server['name']} added; c66d connects to"
              f" {server['user']}@{server['address']}:{server['port']} now"
              " (`c66d servers` shows its state)")
    elif action == "provision":
        _provision(client, args)
    elif action == "provisions":
        print(f"{'NAME':<20} {'STATE':<10} {'DRIVER':<12} {'NODE':<24} {'ADDRESS':<16}")
        for node in client.call("GET", "/api/v1/provisions")["items"]:
            why = f"  {node['reason']}" if node["reason"] else ""
            print(f"{node['server']:<20} {node['state']:<10} {node['driver']:<12}"
                  f" {node['node_id']:<24} {node['address'] or '-':<16}{why}")
    elif action == "remove":
        client.call("DELETE", f"/api/v1/servers/{args.name}")
        print(f"server {args.name} removed")
    elif action == "accept-key":
        server = client.call("POST", f"/api/v1/servers/{args.name}/accept-key")
        print(f"server {server['name']}: host key {server['host_key']} accepted")
    return 0


def _provision(client: Client, args: argparse.Namespace) -> None:
    provider = {"driver": args.driver, "key": os.environ.get("C66D_CLOUD_KEY", ""),
                "secret": os.environ.get("C66D_CLOUD_SECRET", "")}
    if args.region:
        provider["region"] = args.region
    body: dict[str, Any] = {"name": args.name, "provider": provider, "size": args.size,
                            "image": args.image, "port": args.port, "user": args.ssh_user}
    if args.location:
        body["location"] = args.location
    if args.role:
        body["roles"] = args.role
    node = client.call("POST", "/api/v1/provisions", body)
    print(f"node {node['node_id']} of {node['server']} created on {node['driver']}; it becomes"
          " a server once it runs (`c66d servers provisions` shows how far it got)")


def _add(sub: argparse._SubParsersAction[Any]) -> None:
    servers_p = sub.add_parser("servers", help="servers c66d drives over SSH")
    add_client_flags(servers_p)
    servers_p.set_defaults(handler=run_servers, servers_command=None)
    actions = servers_p.add_subparsers(dest="servers_command", metavar="ACTION")
    list_p = actions.add_parser("list", help="every server with its state (the default)")
    key_p = actions.add_parser("key", help="c66d's SSH public key, for authorized_keys")
    add_p = actions.add_parser("add", help="add a server reached over SSH")
    add_p.add_argument("name")
    add_p.add_argument("address")
    add_p.add_argument("--port", type=int, default=22)
    add_p.add_argument("--ssh-user", default="root", help="SSH user (default root)")
    add_p.add_argument("--docker-socket", default="/var/run/docker.sock",
                       help="the Docker engine's socket on the server")
    add_p.add_argument("--role", action="append", help="role (repeat; default app)")
    prov_p = actions.add_parser(
        "provision", help="create a server on a cloud (libcloud driver; credentials from"
                          " C66D_CLOUD_KEY / C66D_CLOUD_SECRET)")
    prov_p.add_argument("name")
    prov_p.add_argument("--driver", required=True,
                        help="libcloud compute driver, e.g. digital_ocean")
    prov_p.add_argument("--size", required=True, help="size id or name")
    prov_p.add_argument("--image", required=True, help="image id or name")
    prov_p.add_argument("--location", default="", help="location id or name")
    prov_p.add_argument("--region", default="", help="the driver's region, if it takes one")
    prov_p.add_argument("--port", type=int, default=22)
    prov_p.add_argument("--ssh-user", default="root", help="SSH user (default root)")
    prov_p.add_argument("--role", action="append", help="role (repeat; default app)")
    provs_p = actions.add_parser("provisions", help="provisioned servers' nodes and state")
    remove_p = actions.add_parser("remove", help="stop driving a server")
    remove_p.add_argument("name")
    accept_p = actions.add_parser("accept-key", help="accept a server's changed host key")
    accept_p.add_argument("name")
    for parser in (list_p, key_p, add_p, prov_p, provs_p, remove_p, accept_p):
        add_client_flags(parser)


register(_add)
