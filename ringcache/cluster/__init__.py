"""Cluster mode. Pure parts: ring.py (which shard owns each slot),
topology.py (the cluster map and its transitions), replies.py (CLUSTER
SLOTS/SHARDS/NODES/INFO). controlplane/ stores the map (compare-and-set,
watch, heartbeats)."""
