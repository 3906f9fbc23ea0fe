"""Install a server's nginx configuration over SSH: check it, then swap it in and reload.

One SSH exec per change: a fixed script (argv `sh -c SCRIPT c66d-lb FOLDER PID`, the
configuration on stdin) writes a candidate file, runs `nginx -t` on it and only then moves it
into place and reloads c66d's nginx (starting it when it does not run). A failed check leaves
the working configuration untouched; a reload nginx refuses puts the previous file back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from c66d.errors import C66dError
from c66d.logs import get_logger
from c66d.orchestrator.lb import SELF_SIGNED, Backend, Layout, Rendered, Site, render
from c66d.orchestrator.servicefile import parse_service_file
from c66d.orchestrator.spec import PortSpec, ServiceSpec
from c66d.orchestrator.ssh import Result
from c66d.orchestrator.tls import pem_name, self_signed, stack_pem, write_argv
from c66d.store import Store

Runner = Callable[[str, Sequence[str], str], Awaitable[Result]]  # (server, argv, stdin)

DEFAULT_LAYOUT = Layout()
SERVING = ("healthy", "running")  # container states nginx sends traffic to

# Exit codes: 3 = nginx -t refused the candidate, 4 = files, 5 = reload/start refused,
# 6 = the new configuration did not take effect in time.
SCRIPT = r"""
dir=$1; pidfile=$2; conf=$dir/nginx.conf; cand=$dir/nginx.conf.candidate
mkdir -p "$dir" || exit 4
cat > "$cand" || exit 4
if ! out=$(nginx -t -q -c "$cand" 2>&1); then
  printf '%s\n' "$out" >&2; rm -f "$cand"; exit 3
fi
[ -f "$conf" ] && cp -p "$conf" "$conf.previous"
mv -f "$cand" "$conf" || exit 4
pid=$(cat "$pidfile" 2>/dev/null)
# a pid file left by an nginx that was killed may name another process by now, even another
# nginx (of another network namespace on this machine): only our own master counts
master=no; here=$(readlink /proc/$$/ns/net)
if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$here" ]; then
  case "$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" in
    "nginx: master process"*) master=yes ;;
  esac
fi
if [ $master = yes ]; then
  before=" $(pgrep -P "$pid" | tr '\n' ' ') "
  if ! nginx -c "$conf" -s reload; then
    [ -f "$conf.previous" ] && mv -f "$conf.previous" "$conf"; exit 5
  fi
  # done when a new worker runs and every old one is gone or shutting down: nginx's master
  # tells old workers to stop only 100 ms after it started the new ones, and until an old
  # worker takes that title (closing its listening sockets) it still accepts connections and
  # serves them with the previous configuration
  i=0
  while [ $i -lt 800 ]; do  # 20 s: a loaded server spawns new workers slowly
    fresh=no; stale=no
    for p in $(pgrep -P "$pid"); do
      case "$before" in
        *" $p "*) case "$(tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline")" in
                    *"shutting down"*) ;; *) stale=yes ;; esac ;;
        *) fresh=yes ;;
      esac
    done
    if [ $fresh = yes ] && [ $stale = no ]; then echo reloaded; exit 0; fi
    i=$((i + 1)); sleep 0.025
  done
  [ -f "$conf.previous" ] && mv -f "$conf.previous" "$conf"
  tail -n 5 "$3" >&2 2>/dev/null; exit 6
fi
if ! nginx -c "$conf"; then
  [ -f "$conf.previous" ] && mv -f "$conf.previous" "$conf"; exit 5
fi
echo started
"""


class BalancerFailed(C66dError):
    """nginx on a server refused c66d's configuration; the previous one keeps serving."""

    status = 502
    code = "LOAD_BALANCER_FAILED"


def apply_argv(layout: Layout) -> list[str]:
    return ["sh", "-c", SCRIPT, "c66d-lb", layout.folder, layout.pid, layout.error_log]


WHY = {3: "nginx -t refused the configuration", 4: "cannot write the configuration",
       5: "nginx refused to reload or start", 6: "nginx did not take the new configuration"}


def _served(spec: ServiceSpec) -> PortSpec | None:
    return next((p for p in spec.ports if p.http or p.https), None)


def sites_of(containers: Sequence[tuple[ServiceSpec, str, str]],
             certificates: Mapping[str, str] | None = None) -> list[Site]:
    """Sites from (service spec, stack, address) per serving container (pure).

    The newest spec of a service (the last one given) sets its ports and names; each
    container is reached on its own spec's container port. `certificates`: the PEM file of
    each stack that brings its own (https ports of other stacks use the server's)."""
    grouped: dict[tuple[str, str], tuple[ServiceSpec, list[Backend]]] = {}
    for spec, stack, address in containers:
        port = _served(spec)
        if port is None or not address:
            continue
        key = (stack, spec.name)
        backends = grouped.get(key, (spec, []))[1]
        backends.append(Backend(address, port.container))
        grouped[key] = (spec, backends)
    sites = []
    for (stack, _), (spec, backends) in grouped.items():
        served = _served(spec)
        assert served is not None
        sites.append(Site(stack, spec.name, served.http, spec.traffic_matches, tuple(backends),
                          spec.load_balancing, https=served.https,
                          certificate=(certificates or {}).get(stack, "")))
    return sites


class Balancer:
    """Keeps each SSH server's nginx pointing at its serving containers."""

    def __init__(self, store: Store, run: Runner, layout: Layout = DEFAULT_LAYOUT) -> None:
        self.store, self.run, self.layout = store, run, layout
        self._locks: dict[str, asyncio.Lock] = {}
        self._applied: dict[str, str] = {}
        self._files: dict[str, set[str]] = {}  # TLS files known to be on each server
        self._pems: dict[str, str] = {}  # stacks' PEM texts by file name
        self.log = get_logger("c66d.lb")

    async def rendered(self, server: str) -> Rendered:
        """What the server's nginx should serve now, from the store."""
        records = [c for c in await self.store.containers.query(server=server)
                   if c.state in SERVING]
        records.sort(key=lambda c: c.deployment)
        specs: dict[tuple[str, int], dict[str, ServiceSpec]] = {}
        found: list[tuple[ServiceSpec, str, str]] = []
        for record in records:
            key = (record.stack, record.deployment)
            if key not in specs:
                deployment = await self.store.deployments.by_number(*key)
                specs[key] = parse_service_file(deployment.snapshot["service_yml"]).services
            spec = specs[key].get(record.service)
            if spec is not None:
                found.append((spec, record.stack, record.address))
        files, certificates, warnings = await self.certificates(found)
        rendered = render(sites_of(found, certificates), self.layout)
        return Rendered(rendered.text, (*warnings, *rendered.warnings), files)

    async def certificates(self, found: Sequence[tuple[ServiceSpec, str, str]]
                           ) -> tuple[tuple[str, ...], dict[str, str], list[str]]:
        """TLS files the https ports need (names in the layout's tls folder), the PEM file
        of each stack that brings its own certificate, and why others' were not used."""
        stacks = sorted({stack for spec, stack, _ in found
                         if any(p.https for p in spec.ports)})
        if not stacks:
            return (), {}, []
        files, certificates, warnings = [SELF_SIGNED], {}, []
        for stack in stacks:
            try:
                env = await self.deployed_env(stack)
            except C66dError:  # deleted meanwhile
                continue
            pem, why = stack_pem(env)
            if why:
                warnings.append(f"{stack}: {why}; serving the server's own certificate")
            if pem:
                name = pem_name(stack, pem)
                self._pems[name] = pem
                files.append(name)
                certificates[stack] = f"{self.layout.tls}/{name}"
        return tuple(files), certificates, warnings

    async def deployed_env(self, stack: str) -> dict[str, str]:
        """The variables the stack's newest running or successful deployment was made with
        (its certificate goes with its deployment: a rollback brings the old one back);
        the stack's variables now when that deployment kept none."""
        for deployment in await self.store.deployments.for_stack(stack, limit=20):
            if deployment.status in ("running", "succeeded"):
                sealed = deployment.snapshot.get("env")
                if sealed:
                    return self.store.stacks.open_env(sealed)
                break
        return await self.store.stacks.env(stack)

    async def put_files(self, server: str, names: Sequence[str]) -> None:
        """Write the TLS files the configuration names that the server lacks (0600)."""
        known = self._files.setdefault(server, set())
        for name in names:
            if name in known:
                continue
            if name == SELF_SIGNED:
                text = await asyncio.to_thread(self_signed, f"{server}.c66d")
            else:
                text = self._pems[name]
            result = await self.run(server, write_argv(self.layout.tls, name), text)
            if not result.ok:
                raise BalancerFailed(f"load balancer on server {server!r}: cannot write "
                                     f"{self.layout.tls}/{name}: {result.stderr.strip()}")
            known.add(name)

    async def update(self, server: str) -> Rendered | None:
        """Bring the server's nginx up to date; None when nothing changed or the server is
        not balanced by c66d (the local server). Raises BalancerFailed."""
        if (await self.store.servers.get(server)).kind != "ssh":
            return None
        async with self._locks.setdefault(server, asyncio.Lock()):
            wanted = await self.rendered(server)
            if self._applied.get(server) == wanted.text:
                return None
            await self.put_files(server, wanted.files)
            await self.install(server, wanted.text)
            self._applied[server] = wanted.text
            return wanted

    async def install(self, server: str, text: str) -> str:
        """Check and install `text` as the server's nginx.conf; 'reloaded' or 'started'."""
        result = await self.run(server, apply_argv(self.layout), text)
        if result.ok:
            self.log.info("nginx on %s %s", server, result.stdout.strip())
            return result.stdout.strip()
        self._applied.pop(server, None)
        why = WHY.get(result.exit_status, f"exited {result.exit_status}")
        detail = result.stderr.strip()[-2000:]
        raise BalancerFailed(f"load balancer on server {server!r}: {why}"
                             + (f": {detail}" if detail else ""),
                             detail={"server": server, "exit_status": result.exit_status,
                                     "stderr": detail})

    def forget(self, server: str) -> None:
        """Apply again next time even if nothing changed (e.g. after a reconnect)."""
        self._applied.pop(server, None)
        self._files.pop(server, None)


BALANCER = web.AppKey("balancer", Balancer)
