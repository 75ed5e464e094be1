"""Persistence: the snapshot file and the append-only file.

* snapshot.py  the node's snapshot: written as an RDB file, read as RDB or
               as RCSNAP (earlier versions' framed format); a chunk
               generator to write it (to a file or a replica's socket) and a
               reader that names the offset of any damage
* rdb.py       Redis's RDB serialization: files and DUMP/RESTORE payloads
* compact.py   the compact encodings inside RDB values (listpack, ziplist,
               intset, zipmap, LZF)
* crc64.py     Redis's CRC-64 (Jones)
* aof.py       the append-only file: command encoding, the parser that tells
               a truncated tail from corruption, the manifest, check-aof
* manager.py   the node side: SAVE/BGSAVE (forked child), save points, AOF
               feeding and fsync policies, rewrites, loading at start-up

docs/persistence.md describes the formats and the guarantees.
"""

from .manager import LoadError, Persistence

__all__ = ["LoadError", "Persistence"]
