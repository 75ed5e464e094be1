"""Redis's key specs for commands registered before key specs could be
declared (commands/keyspecs.py): what redis-server 7.0.15's COMMAND INFO
says for each command whose keys are not all used the one way (first,
last, step) and its write flag imply. Generated from that server's COMMAND
INFO and kept as data: `apply` gives each listed command these specs
unless it declares its own, so COMMAND INFO and GETKEYSANDFLAGS answer as
Redis does without editing every family module. A command that declares
`key_specs=` at registration (the better place) needs no entry here.
"""

from __future__ import annotations

from .keyspecs import KeySpec, spec
from .registry import lookup_fullname

def _set_key_flags(argv: list[bytes]) -> tuple[str, ...]:
    """setGetKeys: SET ... GET reads the old value."""
    if any(arg.lower() == b"get" for arg in argv[3:]):
        return ("RW", "access", "update")
    return ("OW", "update")


REDIS_KEY_SPECS: dict[str, tuple[KeySpec, ...]] = {
    "append": (spec('RW insert', index=1),),
    "blmove": (spec('RW access delete', index=1),
        spec('RW insert', index=2),),
    "blmpop": (spec('RW access delete', index=2, keynum=True, keynumidx=0, firstkey=1),),
    "blpop": (spec('RW access delete', index=1, lastkey=-2),),
    "brpop": (spec('RW access delete', index=1, lastkey=-2),),
    "brpoplpush": (spec('RW access delete', index=1),
        spec('RW insert', index=2),),
    "bzmpop": (spec('RW access delete', index=2, keynum=True, keynumidx=0, firstkey=1),),
    "bzpopmax": (spec('RW access delete', index=1, lastkey=-2),),
    "bzpopmin": (spec('RW access delete', index=1, lastkey=-2),),
    "copy": (spec('RO access', index=1),
        spec('OW update', index=2),),
    "decr": (spec('RW access update', index=1),),
    "decrby": (spec('RW access update', index=1),),
    "del": (spec('RM delete', index=1, lastkey=-1),),
    "eval": (spec('RW access update', index=2, keynum=True, keynumidx=0, firstkey=1, notes='We cannot tell how the keys will be used so we assume the worst, RW and UPDATE'),),
    "eval_ro": (spec('RO access', index=2, keynum=True, keynumidx=0, firstkey=1, notes='We cannot tell how the keys will be used so we assume the worst, RO and ACCESS'),),
    "evalsha": (spec('RW access update', index=2, keynum=True, keynumidx=0, firstkey=1),),
    "evalsha_ro": (spec('RO access', index=2, keynum=True, keynumidx=0, firstkey=1),),
    "exists": (spec('RO', index=1, lastkey=-1),),
    "fcall": (spec('RW access update', index=2, keynum=True, keynumidx=0, firstkey=1, notes='We cannot tell how the keys will be used so we assume the worst, RW and UPDATE'),),
    "fcall_ro": (spec('RO access', index=2, keynum=True, keynumidx=0, firstkey=1, notes='We cannot tell how the keys will be used so we assume the worst, RO and ACCESS'),),
    "getdel": (spec('RW access delete', index=1),),
    "getex": (spec('RW access update', index=1, notes='RW and UPDATE because it changes the TTL'),),
    "getset": (spec('RW access update', index=1),),
    "hdel": (spec('RW delete', index=1),),
    "hexists": (spec('RO', index=1),),
    "hincrby": (spec('RW access update', index=1),),
    "hincrbyfloat": (spec('RW access update', index=1),),
    "hlen": (spec('RO', index=1),),
    "hsetnx": (spec('RW insert', index=1),),
    "hstrlen": (spec('RO', index=1),),
    "incr": (spec('RW access update', index=1),),
    "incrby": (spec('RW access update', index=1),),
    "incrbyfloat": (spec('RW access update', index=1),),
    "linsert": (spec('RW insert', index=1),),
    "llen": (spec('RO', index=1),),
    "lmove": (spec('RW access delete', index=1),
        spec('RW insert', index=2),),
    "lmpop": (spec('RW access delete', index=1, keynum=True, keynumidx=0, firstkey=1),),
    "lpop": (spec('RW access delete', index=1),),
    "lpush": (spec('RW insert', index=1),),
    "lpushx": (spec('RW insert', index=1),),
    "lrem": (spec('RW delete', index=1),),
    "ltrim": (spec('RW delete', index=1),),
    "memory|usage": (spec('RO', index=2),),
    "move": (spec('RW access update', index=1),),
    "mset": (spec('OW update', index=1, lastkey=-1, keystep=2),),
    "msetnx": (spec('OW insert', index=1, lastkey=-1, keystep=2),),
    "object|encoding": (spec('RO', index=2),),
    "object|freq": (spec('RO', index=2),),
    "object|idletime": (spec('RO', index=2),),
    "object|refcount": (spec('RO', index=2),),
    "psetex": (spec('OW update', index=1),),
    "rename": (spec('RW access delete', index=1),
        spec('OW update', index=2),),
    "renamenx": (spec('RW access delete', index=1),
        spec('OW insert', index=2),),
    "restore": (spec('OW update', index=1),),
    "rpop": (spec('RW access delete', index=1),),
    "rpoplpush": (spec('RW access delete', index=1),
        spec('RW insert', index=2),),
    "rpush": (spec('RW insert', index=1),),
    "rpushx": (spec('RW insert', index=1),),
    "sadd": (spec('RW insert', index=1),),
    "scard": (spec('RO', index=1),),
    "sdiffstore": (spec('OW update', index=1),
        spec('RO access', index=2, lastkey=-1),),
    "set": (spec('RW access update variable_flags', index=1, flags_fn=_set_key_flags,
                 notes='RW and ACCESS due to the optional `GET` argument'),),
    "setex": (spec('OW update', index=1),),
    "setnx": (spec('OW insert', index=1),),
    "sintercard": (spec('RO access', index=1, keynum=True, keynumidx=0, firstkey=1),),
    "sinterstore": (spec('RW update', index=1),
        spec('RO access', index=2, lastkey=-1),),
    "sismember": (spec('RO', index=1),),
    "smove": (spec('RW access delete', index=1),
        spec('RW insert', index=2),),
    "spop": (spec('RW access delete', index=1),),
    "srem": (spec('RW delete', index=1),),
    "strlen": (spec('RO', index=1),),
    "sunionstore": (spec('OW update', index=1),
        spec('RO access', index=2, lastkey=-1),),
    "touch": (spec('RO', index=1, lastkey=-1),),
    "type": (spec('RO', index=1),),
    "unlink": (spec('RM delete', index=1, lastkey=-1),),
    "watch": (spec('RO', index=1, lastkey=-1),),
    "xadd": (spec('RW update', index=1, notes='UPDATE instead of INSERT because of the optional trimming feature'),),
    "xautoclaim": (spec('RW delete', index=1),),
    "xdel": (spec('RW delete', index=1),),
    "xgroup|create": (spec('RW insert', index=2),),
    "xgroup|createconsumer": (spec('RW insert', index=2),),
    "xgroup|delconsumer": (spec('RW delete', index=2),),
    "xgroup|destroy": (spec('RW delete', index=2),),
    "xlen": (spec('RO', index=1),),
    "xread": (spec('RO access', keyword=b'STREAMS', startfrom=1, lastkey=-1, limit=2),),
    "xreadgroup": (spec('RO access', keyword=b'STREAMS', startfrom=4, lastkey=-1, limit=2),),
    "xtrim": (spec('RW delete', index=1),),
    "zcard": (spec('RO', index=1),),
    "zdiff": (spec('RO access', index=1, keynum=True, keynumidx=0, firstkey=1),),
    "zdiffstore": (spec('OW update', index=1),
        spec('RO access', index=2, keynum=True, keynumidx=0, firstkey=1),),
    "zincrby": (spec('RW access update', index=1),),
    "zinter": (spec('RO access', index=1, keynum=True, keynumidx=0, firstkey=1),),
    "zintercard": (spec('RO access', index=1, keynum=True, keynumidx=0, firstkey=1),),
    "zinterstore": (spec('OW update', index=1),
        spec('RO access', index=2, keynum=True, keynumidx=0, firstkey=1),),
    "zmpop": (spec('RW access delete', index=1, keynum=True, keynumidx=0, firstkey=1),),
    "zpopmax": (spec('RW access delete', index=1),),
    "zpopmin": (spec('RW access delete', index=1),),
    "zrangestore": (spec('OW update', index=1),
        spec('RO access', index=2),),
    "zrem": (spec('RW delete', index=1),),
    "zremrangebylex": (spec('RW delete', index=1),),
    "zremrangebyrank": (spec('RW delete', index=1),),
    "zremrangebyscore": (spec('RW delete', index=1),),
    "zunion": (spec('RO access', index=1, keynum=True, keynumidx=0, firstkey=1),),
    "zunionstore": (spec('OW update', index=1),
        spec('RO access', index=2, keynum=True, keynumidx=0, firstkey=1),),
}


def apply() -> None:
    """Give the listed commands Redis's key specs (commands.load_all)."""
    for name, specs in REDIS_KEY_SPECS.items():
        command = lookup_fullname(name.encode())
        if command is not None and not command.key_specs:
            command.key_specs = specs
