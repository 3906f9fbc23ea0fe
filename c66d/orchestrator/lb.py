"""Load balancing per server: the nginx configuration c66d writes (pure).

Each server runs c66d's own nginx instance (its own configuration file and pid file, apart from
the distribution's nginx setup): services with `http` ports are served on those ports, their
`traffic_matches` as server names, round-robin (or `ip_hash` for `sticky`) over the healthy
containers of the service *on that server*. The applier (lbapply.py) checks and installs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

# server_name values nginx takes without quoting: host names, `*.` / `.` wildcards, `_`.
_NAME = re.compile(r"^(\*\.|\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})?(\.\*)?$")
_WORD = re.compile(r"[^A-Za-z0-9_]")


SELF_SIGNED = "self-signed.pem"  # the server's own certificate, made by c66d


@dataclass(frozen=True)
class Layout:
    """Where c66d's nginx instance keeps its files on a server."""

    folder: str = "/etc/nginx/c66d"
    pid: str = "/run/c66d-nginx.pid"
    error_log: str = "/var/log/nginx/c66d-error.log"

    @property
    def config(self) -> str:
        return f"{self.folder}/nginx.conf"

    @property
    def tls(self) -> str:
        """Key + certificate files (one PEM each, mode 0600) for `https` ports."""
        return f"{self.folder}/tls"

    @property
    def self_signed(self) -> str:
        return f"{self.tls}/{SELF_SIGNED}"


@dataclass(frozen=True)
class Backend:
    address: str
    port: int


@dataclass(frozen=True)
class Site:
    """One service of one stack as this server's nginx serves it."""

    stack: str
    service: str
    http: int | None
    names: tuple[str, ...] = ()
    backends: tuple[Backend, ...] = ()
    method: str = "roundrobin"  # load_balancing: roundrobin, sticky, closest
    https: int | None = None
    certificate: str = ""  # PEM file (key + certificate) for https; "": the server's own

    def listeners(self) -> list[tuple[int, bool]]:
        """(port, tls) pairs this site is served on."""
        return [(port, tls) for port, tls in ((self.http, False), (self.https, True))
                if port is not None]

    @property
    def upstream(self) -> str:
        return f"c66d_{_WORD.sub('_', self.stack)}__{_WORD.sub('_', self.service)}"


@dataclass(frozen=True)
class Rendered:
    text: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    files: tuple[str, ...] = ()  # TLS files (in Layout.tls) the text names


def valid_name(name: str) -> bool:
    """A traffic_matches entry nginx can take as a server_name without quoting."""
    return bool(_NAME.match(name))


def _upstream(site: Site) -> list[str]:
    lines = [f"    upstream {site.upstream} {{"]
    if site.method == "sticky":
        lines.append("        ip_hash;")
    for backend in sorted(set(site.backends), key=lambda b: (b.address, b.port)):
        lines.append(f"        server {backend.address}:{backend.port};")
    lines += ["        keepalive 16;", "    }"]
    return lines


def _server(port: int, names: list[str], upstream: str | None, default: bool,
            certificate: str | None = None) -> list[str]:
    listen = f"{port}{' ssl' if certificate else ''}{' default_server' if default else ''}"
    lines = ["    server {", f"        listen {listen};"]
    if names:
        lines.append(f"        server_name {' '.join(names)};")
    if certificate:
        lines += [f"        ssl_certificate {certificate};",
                  f"        ssl_certificate_key {certificate};"]
    if upstream is None:
        lines += ["        return 404;", "    }"]
        return lines
    lines += [
        "        location / {",
        f"            proxy_pass http://{upstream};",
        "        }",
        "    }",
    ]
    return lines


HEAD = """\
# Written by c66d: its own nginx instance for the containers on this server. Do not edit;
# c66d rewrites it on every rollout (checked with `nginx -t` before it replaces this file).
worker_processes 1;
pid {pid};
error_log {error_log} warn;
events {{
    worker_connections 2048;
}}
http {{
    access_log off;
    server_tokens off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_connect_timeout 3s;
    proxy_next_upstream error timeout http_502 http_503;
    proxy_next_upstream_tries 3;
    server_names_hash_bucket_size 128;
"""


def render(sites: Iterable[Site], layout: Layout | None = None) -> Rendered:
    """The whole nginx.conf of one server. Sites without backends and names nginx would
    misread are left out, each with a warning."""
    layout = layout or Layout()
    warnings: list[str] = []
    kept: list[Site] = []
    for site in sorted(sites, key=lambda s: (s.http or 0, s.https or 0, s.stack, s.service)):
        label = f"{site.stack}/{site.service}"
        if not site.backends:
            warnings.append(f"{label}: no healthy container on this server")
            continue
        bad = [n for n in site.names if not valid_name(n)]
        if bad:
            warnings.append(f"{label}: traffic_matches {', '.join(map(repr, bad))} left out")
        kept.append(replace(site, names=tuple(n for n in site.names if valid_name(n))))
    lines = [HEAD.format(pid=layout.pid, error_log=layout.error_log).rstrip("\n")]
    for site in kept:
        lines += _upstream(site)
    listeners = sorted({pair for s in kept for pair in s.listeners()})
    for port, tls in listeners:
        here = [s for s in kept if (port, tls) in s.listeners()]
        if (port, not tls) in listeners and tls:
            warnings += [f"{s.stack}/{s.service}: https port {port} is another service's "
                         "http port; left out" for s in here]
            continue
        lines += _port(port, here, layout.self_signed if tls else None, warnings)
    lines.append("}")
    return Rendered("\n".join(lines) + "\n", tuple(warnings))


def _port(port: int, here: list[Site], tls: str | None, warnings: list[str]) -> list[str]:
    """The server blocks of one listening port: one per named site, then the default one.
    `tls`: the server's own certificate when the port is https (sites may bring theirs)."""

    def certificate(site: Site | None) -> str | None:
        if tls is None:
            return None
        return site.certificate if site is not None and site.certificate else tls

    lines: list[str] = []
    catch_all = [s for s in here if not s.names]
    for extra in catch_all[1:]:
        warnings.append(f"{extra.stack}/{extra.service}: port {port} is already served"
                        f" without traffic_matches by {catch_all[0].stack}/"
                        f"{catch_all[0].service}; set traffic_matches")
    seen: set[str] = set()
    for site in here:
        names = [n for n in site.names if n.lower() not in seen]
        for dup in sorted(set(site.names) - set(names)):
            warnings.append(f"{site.stack}/{site.service}: {dup} on port {port} is"
                            " already served by another service")
        seen.update(n.lower() for n in names)
        if names:
            lines += _server(port, names, site.upstream, False, certificate(site))
    first = catch_all[0] if catch_all else None
    lines += _server(port, ["_"] if first else [], first.upstream if first else None, True,
                     certificate(first))
    return lines
