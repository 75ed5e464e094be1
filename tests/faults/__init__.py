"""A fault-testing harness in the spirit of Jepsen (issue 15), shared by the
tests in this folder and benchmarks/failover.py.

Theory of operation
-------------------
A run has four parts, each its own module:

- `backends`: a cluster of real processes this harness started (a Redis
  Cluster of redis-server processes, or a ringcache cluster), on loopback or
  each node in a network namespace of its own (`netns`). It knows each
  node's pid, address, role and slots, and can restart a node.
- `workload`: client threads, each with its own redis-py `RedisCluster`,
  that write unique values (SET of a fresh key), SET increasing values to
  registers and INCR counters they alone write, read both back, and
  optionally run `WAIT 1 ms` after each write. Every operation goes into a
  `history.History` with its outcome: ok, fail (the node refused it: it
  did not happen), or info (a timeout or a dropped connection: it may or
  may not have happened) and its start and end times.
- `nemesis`: the faults, always on processes the backend started, by pid:
  kill -9, SIGSTOP/SIGCONT, a partition that cuts a node off from the other
  nodes while the clients still reach it, restarts.
- `checker`: pure functions over the history and the values read back at
  the end: acknowledged writes lost (all, and those WAIT said a replica had),
  reads that went backwards on one key, and the longest gap between
  successful writes around the fault (write unavailability).

Only one writer ever writes a given key, with values that only grow, so any
observation below a value that was acknowledged earlier is a lost write, and
a read below what was known before it began went backwards.
"""
