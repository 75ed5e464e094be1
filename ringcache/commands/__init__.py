"""Command families, one module each. Importing a module registers its
commands in the table (commands.registry)."""

import importlib

FAMILIES = ("connection", "strings", "keys", "transactions", "server", "pubsub", "sets", "hashes", "zsets", "lists", "persistence", "memory", "replication")


def load_all() -> None:
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
