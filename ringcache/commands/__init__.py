"""Command families, one module each. Importing a module registers its
commands in the table (commands.registry); a module that extends another
family's command (CLIENT, DEBUG) imports that family itself, so any order
of imports gives the same table. `load_all` imports them all, in the order
COMMAND lists them."""

import importlib

from . import redis_key_specs
from .registry import order_table

FAMILIES = (
    "connection", "strings", "keys", "transactions", "info", "config", "client", "introspection",
    "server", "debug", "pubsub", "sets", "hashes", "zsets", "lists", "persistence", "memory", "dump",
    "replication", "scripting",
    "bitmaps", "hyperloglog", "sort", "geo", "latency",
    "streams", "migrate",
    "cluster",
    "acl",
)


def load_all() -> None:
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
    order_table([f"{__name__}.{family}" for family in FAMILIES])
    redis_key_specs.apply()
