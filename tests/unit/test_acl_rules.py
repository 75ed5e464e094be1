"""ringcache/acl.py without a node: rule parsing, the description ACL LIST
gives (the cases below are redis-server 7.0.15's answers; where Redis lists
single commands its order is its dict's and changes per process, so those
cases are left out), and the permission check."""

from __future__ import annotations

import pytest

from ringcache.acl import DENIED_CHANNEL, DENIED_COMMAND, DENIED_KEY, AclError, Users, split_rules
from ringcache.commands import load_all
from ringcache.commands.registry import lookup

load_all()


@pytest.mark.parametrize("rules, described", [
    ("+@read -get", "-@all +@read -get"),
    ("+@all -get +get", "+@all"),
    ("+config|get +config", "-@all +config"),
    ("+config -config|set", "-@all +config -config|set"),
    ("+@all -config|set", "+@all -config|set"),
    ("+@read +@write -@read", "-@all +@write"),
    ("allcommands -get nocommands +set", "-@all +set"),
    ("+select|0", "-@all +select|0"),
    ("+@all -@dangerous", "+@all -@dangerous"),
])
def test_command_rules_describe_as_redis(rules, described):
    users = Users()
    user, _ = users.setuser(b"t", rules.split())
    assert user.root.describe_commands() == described


def test_bad_rule_leaves_the_user_unchanged():
    users = Users()
    users.setuser(b"t", ["on", "+get"])
    before = users.get(b"t").describe()
    with pytest.raises(AclError, match="Error in ACL SETUSER modifier '~x': Adding a pattern"):
        users.setuser(b"t", ["+set", "allkeys", "~x"])
    assert users.get(b"t").describe() == before


def test_check():
    users = Users()
    user, _ = users.setuser(b"t", ["on", "%R~r*", "%W~w*", "&c*", "+@all"])
    get, set_, incr, publish, psub = (lookup(n) for n in (b"get", b"set", b"incr", b"publish",
                                                          b"psubscribe"))
    assert user.check(get, [b"get", b"r1"]) == (0, 0)
    assert user.check(set_, [b"set", b"r1", b"v"]) == (DENIED_KEY, 1)
    assert user.check(set_, [b"set", b"w1", b"v"]) == (0, 0)
    assert user.check(incr, [b"incr", b"w1"]) == (DENIED_KEY, 1)  # reads and writes
    assert user.check(publish, [b"publish", b"d", b"m"]) == (DENIED_CHANNEL, 1)
    assert user.check(psub, [b"psubscribe", b"c*"]) == (0, 0)  # the pattern, literally
    assert user.check(psub, [b"psubscribe", b"c1"]) == (DENIED_CHANNEL, 1)
    users.setuser(b"t", ["-get"])
    assert user.check(get, [b"get", b"r1"]) == (DENIED_COMMAND, 0)
    assert not user.unrestricted and user.needs_gate
    assert users.default.unrestricted and not users.default.needs_gate


def test_channel_only_restriction_needs_no_gate():
    users = Users()
    user, _ = users.setuser(b"app", ["on", "~*", "+@all"])
    assert not user.unrestricted and not user.needs_gate


def test_passwords_are_sha256():
    users = Users()
    user, _ = users.setuser(b"t", ["on", ">pw"])
    assert user.passwords == ["30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"]
    assert user.check_password(b"pw") and not user.check_password(b"other")
    users.setuser(b"t", ["off"])
    assert not user.check_password(b"pw")


def test_split_rules_keeps_selectors_whole():
    assert split_rules("on (~a +get) >p") == ["on", "(~a +get)", ">p"]
    with pytest.raises(AclError, match="Unmatched parenthesis"):
        split_rules("on (~a +get")
