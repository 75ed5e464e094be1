"""The command table (commands.registry): the same whatever order the
family modules are imported in, ACL categories derived rather than repeated,
tips carried by the spec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ringcache.commands import FAMILIES, load_all
from ringcache.commands.registry import COMMANDS, CommandSpec, all_specs

ROOT = Path(__file__).resolve().parents[2]

# Prints the whole table, in its order, after importing the families in the
# order given on the command line and then calling load_all().
_DUMP = """
import importlib, json, sys
for family in sys.argv[1:]:
    importlib.import_module("ringcache.commands." + family)
from ringcache.commands import load_all
from ringcache.commands.debug import DEBUG_SUBCOMMANDS
from ringcache.commands.registry import COMMANDS
load_all()
table = [[spec.fullname, spec.arity, sorted(spec.flags), spec.acl_categories(), list(spec.tips),
          [[sub.fullname, sub.arity, sorted(sub.flags), sub.acl_categories(), list(sub.tips)]
           for sub in spec.subcommands.values()]]
         for spec in COMMANDS.values()]
print(json.dumps([table, sorted(name.decode() for name in DEBUG_SUBCOMMANDS)]))
"""


def _table(order: list[str]) -> list:
    result = subprocess.run([sys.executable, "-c", _DUMP, *order], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_table_does_not_depend_on_import_order():
    expected = _table([])
    assert expected[0][0][0] == "ping"  # connection first, as FAMILIES lists it
    assert "reload" in expected[1] and "object" in expected[1]
    # Families that extend another's command (CLIENT TRACKING, DEBUG RELOAD,
    # INFO persistence) first, those they extend last; then a server module
    # that imports one family (hashes) before the others.
    assert _table(list(reversed(FAMILIES))) == expected
    assert _table(["persistence", "client", "hashes"]) == expected


def _spec(flags: str, acl: tuple[str, ...], group: str = "generic") -> CommandSpec:
    return CommandSpec(name="x", handler=lambda session, argv: None, arity=1,
                       flags=frozenset(flags.split()), group=group, declared_acl=acl)


@pytest.mark.parametrize("flags, group, repeated", [
    ("write", "generic", "write"),        # write -> @write
    ("readonly", "string", "read"),       # readonly -> @read
    ("readonly", "string", "string"),     # the group's category
    ("admin", "server", "dangerous"),     # admin -> @admin @dangerous
    ("fast", "server", "fast"),
    ("", "server", "slow"),               # not fast -> @slow
    ("blocking", "list", "blocking"),
    ("pubsub", "pubsub", "pubsub"),
])
def test_a_category_the_flags_imply_is_refused(flags, group, repeated):
    with pytest.raises(ValueError, match="follow from the flags and group"):
        _spec(flags, (repeated,), group)


def test_declared_and_implied_categories_in_redis_order():
    assert _spec("write denyoom", (), "string").acl_categories() == ["write", "string", "slow"]
    assert _spec("admin noscript", ("connection",), "server").acl_categories() == [
        "admin", "slow", "dangerous", "connection"]
    # LASTSAVE: @admin and @dangerous without the admin flag are declared.
    assert _spec("fast", ("admin", "dangerous"), "server").acl_categories() == [
        "admin", "fast", "dangerous"]


def test_tips_live_in_the_spec():
    load_all()
    tips = {spec.fullname: spec.tips for spec in all_specs() if spec.tips}
    assert tips["smembers"] == ("nondeterministic_output_order",)
    assert tips["config|set"] == ("request_policy:all_nodes", "response_policy:all_succeeded")
    assert tips["info"][0] == "nondeterministic_output"
    assert COMMANDS[b"get"].tips == ()
