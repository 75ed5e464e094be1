"""Where the nodes live on the network: `Loopback` (every node on
127.0.0.1), or `Namespaces`, one network namespace per node so that a
partition can cut node<->node traffic while the clients still reach every
node.

Namespaces: node i runs in namespace `rcf<tag>n<i>` with address
10.215.<b>.<10+i>/24 (b: a block no interface uses yet) on one end of a veth pair; the other end is on a
bridge in the root namespace, which holds 10.215.<b>.1, so the harness and
its clients (in the root namespace) reach every node, and nodes reach each
other through the bridge. `partition(i)` adds blackhole routes: in node i's
namespace to every other node, and in every other node's namespace to node
i. Packets between them are dropped silently (an established connection
hangs, a new one times out), as across a real partition, while the root
namespace still talks to everyone. Only iproute2 is needed (no
iptables/nftables). Everything is removed by `close()`. Needs root.

A process started with `wrap(i) + argv` (`ip netns exec NS argv...`) keeps
its pid: ip execs the command in place, so faults can signal it by pid.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess

_made = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def can_use_namespaces() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2 (ip)"
    return None


def _free_block() -> int:
    """A /24 of 10.215.0.0/16 that no interface here uses yet (two sets of
    namespaces alive at once must not share a subnet)."""
    used = _ip("-4", "addr").stdout
    start = os.getpid() % 250
    for k in range(250):
        block = (start + k) % 250
        if f"10.215.{block}." not in used:
            return block
    raise RuntimeError("no free 10.215.x.0/24 subnet")


class Loopback:
    def __init__(self, count: int) -> None:
        self.count = count

    def host(self, i: int) -> str:
        return "127.0.0.1"

    def wrap(self, i: int) -> list[str]:
        return []

    def partition(self, i: int) -> None:
        raise NotImplementedError("a partition needs Namespaces")

    heal = partition

    def close(self) -> None:
        pass


class Namespaces:
    def __init__(self, count: int, tag: str | None = None) -> None:
        why = can_use_namespaces()
        if why:
            raise RuntimeError(why)
        self.count = count
        self.tag = tag or f"{os.getpid() % 100000}x{next(_made)}"  # unique while alive
        self.prefix = f"10.215.{_free_block()}"
        self.bridge = f"rcf{self.tag}br"
        self.cut: set[int] = set()
        self._made: list[tuple[str, ...]] = []
        try:
            self._setup()
        except Exception:
            self.close()
            raise

    def ns(self, i: int) -> str:
        return f"rcf{self.tag}n{i}"

    def host(self, i: int) -> str:
        return f"{self.prefix}.{10 + i}"

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    def wrap(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.ns(i)]

    def _setup(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made.append(("link", self.bridge))
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(self.count):
            ns, outer, inner = self.ns(i), f"rcf{self.tag}h{i}", f"rcf{self.tag}p{i}"
            _ip("netns", "add", ns)
            self._made.append(("netns", ns))
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            self._made.append(("link", outer))
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", self.bridge)
            _ip("link", "set", outer, "up")
            _ip("-n", ns, "addr", "add", f"{self.host(i)}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def _routes(self, i: int, action: str) -> None:
        for j in range(self.count):
            if j != i:
                _ip("-n", self.ns(i), "route", action, "blackhole", f"{self.host(j)}/32",
                    check=False)
                _ip("-n", self.ns(j), "route", action, "blackhole", f"{self.host(i)}/32",
                    check=False)

    def partition(self, i: int) -> None:
        """Cut node i off from every other node; clients still reach it."""
        self._routes(i, "replace")
        self.cut.add(i)

    def heal(self, i: int | None = None) -> None:
        for j in ([i] if i is not None else sorted(self.cut)):
            self._routes(j, "del")
            self.cut.discard(j)
        for j in sorted(self.cut):  # a route shared with a node still cut goes back
            self._routes(j, "replace")

    def close(self) -> None:
        for kind, name in reversed(self._made):
            if kind == "link":
                _ip("link", "del", name, check=False)
            else:
                _ip("netns", "del", name, check=False)
        self._made.clear()
