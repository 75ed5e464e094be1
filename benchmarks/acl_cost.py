"""What the ACL check costs on the command path, in-process (no network
noise): ns of CPU per GET through Dispatcher.execute_batch, 16 GETs (hits)
per batch as redis-benchmark -P 16 sends them, min of 5 runs.

    python benchmarks/acl_cost.py            # the default user
    python benchmarks/acl_cost.py chan       # a user `~* +@all` (channels restricted)
    python benchmarks/acl_cost.py keys       # a user `~key:* +@all &*` (key patterns)

Compare trees by putting the other one first on PYTHONPATH (a tree without
ACLs takes only the first form), alternating runs (docs/security.md)."""

import sys
import time

from ringcache import accel
from ringcache.config import Config
from ringcache.server.server import Server
from ringcache.server.session import Session

server = Server(Config())
session = Session(server, 1, "127.0.0.1:1", "127.0.0.1:2")
if len(sys.argv) > 1:
    from ringcache.commands.acl import authenticate

    rules = {"chan": ["~*", "+@all"], "keys": ["~key:*", "+@all", "&*"]}[sys.argv[1]]
    server.acl.setuser(b"limited", ["on", "nopass", *rules])
    authenticate(session, b"limited", b"")
dispatcher = server.dispatcher
dispatcher.execute_batch(session, [[b"SET", b"key:%d" % i, b"x" * 32] for i in range(1000)])
batch = [[b"GET", b"key:%d" % (i * 37 % 1000)] for i in range(16)]
runs = []
for _ in range(5):
    start = time.process_time()
    for _ in range(20000):
        dispatcher.execute_batch(session, batch)
    runs.append((time.process_time() - start) / (20000 * 16) * 1e9)
print(f"{min(runs):.0f} ns/GET (min of 5; accelerated={accel.ACCELERATED})")
