"""Persistence: the snapshot file and the append-only file.

* snapshot.py  the snapshot format (versioned, checksummed frames): a chunk
               generator to write it (to a file or, later, a replica's
               socket) and a reader that names the offset of any damage
* aof.py       the append-only file: command encoding, the parser that tells
               a truncated tail from corruption, the manifest, check-aof
* manager.py   the node side: SAVE/BGSAVE (forked child), save points, AOF
               feeding and fsync policies, rewrites, loading at start-up

docs/persistence.md describes the formats and the guarantees.
"""

from .manager import LoadError, Persistence

__all__ = ["LoadError", "Persistence"]
