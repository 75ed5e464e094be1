"""Stream commands (t_stream.c): XADD XRANGE XREAD ... and consumer groups.

The value is a `storage.stream.Stream` (entries by ID, consumer groups with
their pending entries lists); this module parses arguments, answers with
Redis 7.0's replies and error texts, sends the keyspace events and says
what replicas and the append-only file must replay.

Propagation (the write stream) follows Redis: XADD with `*` or `ms-*`
goes out with the ID it got, and an approximate trim (`~`, LIMIT) as the
exact one it did (`MAXLEN = <length left>` / `MINID = <first ID left>`,
without LIMIT), so a replica ends with the same entries. XREADGROUP, XCLAIM
and XAUTOCLAIM go out as their effects: one `XCLAIM key group consumer 0 id
TIME ms RETRYCOUNT n FORCE JUSTID LASTID id` per entry delivered or claimed
(which sets that pending entry as it is here), `XGROUP SETID ... ENTRIESREAD
n` when the group's last delivered ID moved, and `XGROUP CREATECONSUMER`
for a consumer the command created (so a replica has it even when it was
handed nothing).

Blocking (XREAD/XREADGROUP BLOCK ms): when nothing can be served the
handler returns BlockOn (commands/_blocking.py) with the argv to run again,
`$` replaced by the stream's last ID at that moment, so a later XADD is
what wakes it. Inside MULTI it answers a null array at once, and a script
may not use BLOCK at all, as in Redis 7.0.

Time is the keyspace clock's millisecond (Redis's commandTimeSnapshot).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..protocol.resp import NULL_ARRAY, OK
from ..pubsub.notifications import NOTIFY_STREAM, notify
from ..storage.stream import (INVALID_ENTRIES_READ, MAX_ID, SEQ_MASK, Group, Pending, Stream,
                              format_id, make_id, split_id)
from ._admin import help_subcommand
from ._args import parse_int
from ._blocking import BlockOn
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
ID_TOO_SMALL = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
ID_ZERO = "ERR The ID specified in XADD must be greater than 0-0"
EXHAUSTED = "ERR The stream has exhausted the last possible ID, unable to add more items"
MAXLEN_AND_MINID = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
LIMIT_WITHOUT_APPROX = "ERR syntax error, LIMIT cannot be used without the special ~ option"
BAD_START = "ERR invalid start ID for the interval"
BAD_END = "ERR invalid end ID for the interval"
ENTRIES_READ_RANGE = "ERR value for ENTRIESREAD must be positive or -1"
APPROX_LIMIT_FACTOR = 100  # times stream-node-max-entries: the default LIMIT with ~
APPROX_LIMIT_MAX = 1_000_000
U64 = (1 << 64) - 1


# -- IDs ---------------------------------------------------------------------------


def _strtoull(text: bytes) -> int | None:
    """string2ull: an int64's canonical text, else what C's strtoull reads
    of the whole text (blanks, a sign, digits), None if it reads nothing."""
    if not text:
        return None
    if re.fullmatch(rb"-?[1-9][0-9]{0,18}|0", text) and -(1 << 63) <= int(text) < 1 << 63:
        value = int(text)
        return value if value >= 0 else None
    m = re.fullmatch(rb"[ \t\n\v\f\r]*([+-]?)([0-9]+)", text)
    if m is None:
        return None
    value = int(m.group(2))
    if value > U64:
        return None
    return (-value) & U64 if m.group(1) == b"-" else value


def parse_id(arg: bytes, missing_seq: int = 0, strict: bool = False,
             allow_auto_seq: bool = False) -> tuple[int, bool]:
    """streamGenericParseIDOrReply: (id, seq_given). `-` and `+` only when
    not strict; `ms-*` only where allow_auto_seq (XADD): seq_given False."""
    if len(arg) > 127:
        raise CommandError(INVALID_ID)
    if arg == b"-" or arg == b"+":
        if strict:
            raise CommandError(INVALID_ID)
        return (0 if arg == b"-" else MAX_ID), True
    ms_text, dash, seq_text = arg.partition(b"-")
    ms = _strtoull(ms_text)
    if ms is None:
        raise CommandError(INVALID_ID)
    if not dash:
        return make_id(ms, missing_seq), True
    if allow_auto_seq and seq_text == b"*":
        return make_id(ms, 0), False
    seq = _strtoull(seq_text)
    if seq is None:
        raise CommandError(INVALID_ID)
    return make_id(ms, seq), True


def strict_id(arg: bytes, missing_seq: int = 0) -> int:
    return parse_id(arg, missing_seq, strict=True)[0]


def _interval(arg: bytes, missing_seq: int, start: bool) -> int:
    """streamParseIntervalIDOrReply, with `(` made inclusive (+1 / -1)."""
    if len(arg) > 1 and arg[:1] == b"(":
        sid = strict_id(arg[1:], missing_seq)
        if start:
            if sid == MAX_ID:
                raise CommandError(BAD_START)
            return sid + 1
        if sid == 0:
            raise CommandError(BAD_END)
        return sid - 1
    return parse_id(arg, missing_seq)[0]


def _entry_reply(sid: int, fields: tuple[bytes, ...]) -> list:
    return [format_id(sid), list(fields)]


# -- lookups -----------------------------------------------------------------------


def _read_stream(db: Keyspace, key: bytes) -> Stream | None:
    value = db.lookup_read(key)
    if value is None or value.__class__ is Stream:
        return value
    raise WrongTypeError


def _write_stream(db: Keyspace, key: bytes) -> Stream | None:
    value = db.lookup(key)
    if value is None or value.__class__ is Stream:
        return value
    raise WrongTypeError


def _now(session: Session) -> int:
    """Redis's commandTimeSnapshot, for delivery and seen times. A replica
    applies its primary's stream with the clock turned to the distant past
    (replication/replica.py: nothing expires under the primary's commands),
    so there the stream's times are the wall clock's."""
    if session.is_master:
        return int(time.time() * 1000)
    return int(session.db.clock.ms())


def _event(session: Session, event: bytes, key: bytes) -> None:
    if session.db.notify_flags:
        notify(session.server, session.db.index, NOTIFY_STREAM, event, key)


def _no_group(key: bytes, group: bytes) -> CommandError:
    return CommandError("NOGROUP No such key '%s' or consumer group '%s'"
                        % (key.decode("utf-8", "replace"), group.decode("utf-8", "replace")))


# -- trimming arguments (streamParseAddOrTrimArgsOrReply) ---------------------------


class TrimArgs:
    __slots__ = ("maxlen", "minid", "approx", "limit", "limit_given", "arg_index",
                 "nomkstream", "sid", "id_given", "seq_given", "limit_index")

    def __init__(self) -> None:
        self.maxlen: int | None = None
        self.minid: int | None = None
        self.approx = False
        self.limit = 0
        self.limit_given = False
        self.arg_index = 0  # argv index of the threshold
        self.limit_index = 0  # argv index of LIMIT, 0 = none
        self.nomkstream = False
        self.sid = 0
        self.id_given = False
        self.seq_given = True

    @property
    def trimming(self) -> bool:
        return self.maxlen is not None or self.minid is not None


def _parse_trim(argv: list[bytes], xadd: bool, node_max_entries: int) -> tuple[TrimArgs, int]:
    args = TrimArgs()
    i = 2
    argc = len(argv)
    while i < argc:
        more = argc - 1 - i
        opt = argv[i]
        low = opt.lower()
        if xadd and opt == b"*":
            break
        if (low == b"maxlen" or low == b"minid") and more:
            if args.trimming:
                raise CommandError(MAXLEN_AND_MINID)
            args.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                args.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            if low == b"maxlen":
                value = parse_int(argv[i + 1])
                if value < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
                args.maxlen = value
            else:
                args.minid = strict_id(argv[i + 1])
            i += 1
            args.arg_index = i
        elif low == b"limit" and more:
            value = parse_int(argv[i + 1])
            if value < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            args.limit = value
            args.limit_given = True
            args.limit_index = i
            i += 1
        elif xadd and low == b"nomkstream":
            args.nomkstream = True
        elif xadd:
            args.sid, args.seq_given = parse_id(opt, 0, strict=True, allow_auto_seq=True)
            args.id_given = True
            break
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if args.limit_given:
        if not args.trimming:
            raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a "
                               "trimming strategy")
        if not args.approx:
            raise CommandError(LIMIT_WITHOUT_APPROX)
    elif args.approx:  # the work an approximate trim may do unless told
        args.limit = APPROX_LIMIT_FACTOR * node_max_entries
        if not 0 < args.limit <= APPROX_LIMIT_MAX:
            args.limit = APPROX_LIMIT_MAX
    else:
        args.limit = 0
    return args, i


def _trim(stream: Stream, args: TrimArgs) -> int:
    return stream.trim(args.maxlen, args.minid, args.approx, args.limit)


def _exact_trim_argv(argv: list[bytes], args: TrimArgs, stream: Stream) -> list[bytes]:
    """The argv replicas replay after an approximate trim: `=` and the
    threshold actually reached (streamRewriteApproxSpecifier and
    streamRewriteTrimArgument), LIMIT dropped (it binds only the primary)."""
    out = list(argv)
    out[args.arg_index - 1] = b"="
    out[args.arg_index] = b"%d" % len(stream) if args.maxlen is not None else format_id(stream.first_id)
    if args.limit_index:
        del out[args.limit_index:args.limit_index + 2]
    return out


# -- XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID ----------------------------------------


@command("xadd", -5, "write denyoom fast", (1, 1, 1), group="stream", since="5.0.0",
         summary="Appends a new message to a stream. Creates the key if it doesn't exist.",
         complexity="O(1) when adding a new entry, O(N) when trimming where N being the number of "
                    "entries evicted.", tips="nondeterministic_output")
def xadd(session: Session, argv: list[bytes]) -> Any:
    args, idpos = _parse_trim(argv, True, session.server.config["stream-node-max-entries"])
    field_pos = idpos + 1
    nfields = len(argv) - field_pos
    if nfields < 2 or nfields % 2:
        raise CommandError(errors.wrong_arity("xadd"))
    if args.id_given and args.seq_given and args.sid == 0:
        raise CommandError(ID_ZERO)
    db = session.db
    key = argv[1]
    stream = _write_stream(db, key)
    created = False
    if stream is None:
        if args.nomkstream:
            return None
        stream = Stream()
        created = True
    if stream.last_id == MAX_ID:
        raise CommandError(EXHAUSTED)
    if not args.id_given:
        sid = stream.next_id(_now(session))
    elif not args.seq_given:
        ms = split_id(args.sid)[0]
        if ms == split_id(stream.last_id)[0]:
            sid = stream.last_id + 1 if split_id(stream.last_id)[1] < SEQ_MASK else None
        else:
            sid = args.sid
    else:
        sid = args.sid
    if sid is None:  # ms-* where ms-18446744073709551615 was the last
        raise CommandError("ERR Elements are too large to be stored")
    if sid <= stream.last_id:
        raise CommandError(ID_TOO_SMALL)
    config = session.server.config
    stream.append(sid, tuple(argv[field_pos:]), config["stream-node-max-entries"],
                  config["stream-node-max-bytes"])
    if created:
        db.set(key, stream)
    else:
        db.modified(key)
    reply = format_id(sid)
    propagated = argv
    if not (args.id_given and args.seq_given):
        propagated = list(argv)
        propagated[idpos] = reply
    _event(session, b"xadd", key)
    if args.trimming:
        if _trim(stream, args):
            _event(session, b"xtrim", key)
        if args.approx:
            propagated = _exact_trim_argv(propagated, args, stream)
    if propagated is not argv:
        session.propagate = [propagated]
    return reply


@command("xlen", 2, "readonly fast", (1, 1, 1), group="stream", since="5.0.0",
         summary="Return the number of messages in a stream.", complexity="O(1)")
def xlen(session: Session, argv: list[bytes]) -> Any:
    stream = _read_stream(session.db, argv[1])
    return 0 if stream is None else len(stream)


def _range(session: Session, argv: list[bytes], rev: bool) -> Any:
    start_arg, end_arg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start = _interval(start_arg, 0, True)
    end = _interval(end_arg, U64, False)
    count = -1
    i = 4
    while i < len(argv):
        if argv[i].lower() == b"count" and len(argv) - i - 1 >= 1:
            count = max(parse_int(argv[i + 1]), 0)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    if count == 0:
        return NULL_ARRAY
    stream = _read_stream(session.db, argv[1])
    if stream is None:
        return []
    return [_entry_reply(sid, fields)
            for sid, fields in stream.range(start, end, max(count, 0), rev)]


@command("xrange", -4, "readonly", (1, 1, 1), group="stream", since="5.0.0",
         summary="Returns the messages from a stream within a range of IDs.",
         complexity="O(N) with N being the number of elements being returned. If N is constant "
                    "(e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
def xrange(session: Session, argv: list[bytes]) -> Any:
    return _range(session, argv, False)


@command("xrevrange", -4, "readonly", (1, 1, 1), group="stream", since="5.0.0",
         summary="Returns the messages from a stream within a range of IDs in reverse order.",
         complexity="O(N) with N being the number of elements returned. If N is constant (e.g. "
                    "always asking for the first 10 elements with COUNT), you can consider it O(1).")
def xrevrange(session: Session, argv: list[bytes]) -> Any:
    return _range(session, argv, True)


@command("xdel", -3, "write fast", (1, 1, 1), group="stream", since="5.0.0",
         summary="Returns the number of messages after removing them from a stream.",
         complexity="O(1) for each single item to delete in the stream, regardless of the stream size.")
def xdel(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    stream = _write_stream(db, argv[1])
    if stream is None:
        return 0
    ids = [strict_id(arg) for arg in argv[2:]]
    deleted = sum(1 for sid in ids if stream.delete(sid))
    if deleted:
        db.modified(argv[1])
        db.dirty += deleted - 1
        _event(session, b"xdel", argv[1])
    return deleted


@command("xtrim", -4, "write", (1, 1, 1), group="stream", since="5.0.0",
         summary="Deletes messages from the beginning of a stream.",
         complexity="O(N), with N being the number of evicted entries. Constant times are very "
                    "small however, since entries are organized in macro nodes containing multiple "
                    "entries that can be released with a single deallocation.",
         tips="nondeterministic_output")
def xtrim(session: Session, argv: list[bytes]) -> Any:
    args, _ = _parse_trim(argv, False, session.server.config["stream-node-max-entries"])
    db = session.db
    stream = _write_stream(db, argv[1])
    if stream is None:
        return 0
    deleted = _trim(stream, args)
    if deleted:
        _event(session, b"xtrim", argv[1])
        db.modified(argv[1])
        if args.approx:
            session.propagate = [_exact_trim_argv(argv, args, stream)]
    return deleted


@command("xsetid", -3, "write denyoom fast", (1, 1, 1), group="stream", since="5.0.0",
         summary="An internal command for replicating stream values.", complexity="O(1)")
def xsetid(session: Session, argv: list[bytes]) -> Any:
    sid = strict_id(argv[2])
    entries_added = -1
    max_deleted = 0
    i = 3
    while i < len(argv):
        more = len(argv) - 1 - i
        opt = argv[i].lower()
        if opt == b"entriesadded" and more:
            entries_added = parse_int(argv[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif opt == b"maxdeletedid" and more:
            max_deleted = strict_id(argv[i + 1])
            if sid < max_deleted:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided "
                                   "max_deleted_entry_id")
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    db = session.db
    stream = _write_stream(db, argv[1])
    if stream is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if len(stream):
        if sid < stream.top_id:
            raise CommandError("ERR The ID specified in XSETID is smaller than the target stream "
                               "top item")
        if entries_added != -1 and len(stream) > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the "
                               "target stream length")
    stream.last_id = sid
    if entries_added != -1:
        stream.entries_added = entries_added
    if max_deleted:
        stream.max_deleted_id = max_deleted
    db.modified(argv[1])
    _event(session, b"xsetid", argv[1])
    return OK


# -- consumer group bookkeeping (t_stream.c) --------------------------------------------


def _xclaim_argv(key: bytes, group: Group, sid: int, nack: Pending) -> list[bytes]:
    """streamPropagateXCLAIM: the XCLAIM that puts this pending entry, as it
    is now, on a replica."""
    return [b"XCLAIM", key, group.name, nack.consumer.name, b"0", format_id(sid),
            b"TIME", b"%d" % nack.delivery_time, b"RETRYCOUNT", b"%d" % nack.delivery_count,
            b"FORCE", b"JUSTID", b"LASTID", format_id(group.last_id)]


def _setid_argv(key: bytes, group: Group) -> list[bytes]:
    """streamPropagateGroupID."""
    return [b"XGROUP", b"SETID", key, group.name, format_id(group.last_id),
            b"ENTRIESREAD", b"%d" % group.entries_read]


def _consumer_argv(key: bytes, group: Group, name: bytes) -> list[bytes]:
    return [b"XGROUP", b"CREATECONSUMER", key, group.name, name]


def _add_propagation(session: Session, commands: list[list[bytes]]) -> None:
    if commands:
        if session.propagate is None:
            session.propagate = []
        session.propagate.extend(commands)


# -- XREAD XREADGROUP ----------------------------------------------------------------


def _read_keys(argv: list[bytes]) -> list[int]:
    """The keys of XREAD/XREADGROUP: the first half of what follows STREAMS."""
    for i in range(1, len(argv)):
        if argv[i].lower() == b"streams":
            first = i + 1
            count = (len(argv) - first) // 2
            return list(range(first, first + count))
    return []


def _deliver(session: Session, key: bytes, stream: Stream, group: Group, consumer_name: bytes,
             start: int, count: int, noack: bool, out: list[list[bytes]]) -> list:
    """Entries after the group's last ID, for `consumer`: each one moves the
    group on and (without NOACK) becomes pending for the consumer."""
    now = _now(session)
    consumer = group.consumers[consumer_name]
    reply = []
    moved = False
    for sid, fields in stream.range(start, MAX_ID, count):
        if sid > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and not stream.has_tombstones(sid):
                group.entries_read += 1
            elif stream.entries_added:
                group.entries_read = stream.estimate_distance(sid)
            group.last_id = sid
            moved = True
        if not noack:
            nack = group.pel.get(sid)
            if nack is None:
                nack = group.pel[sid] = Pending(now, 1, consumer)
            else:
                nack.consumer.pel.pop(sid, None)
                nack.consumer = consumer
                nack.delivery_time = now
                nack.delivery_count = 1
            consumer.pel[sid] = nack
            out.append(_xclaim_argv(key, group, sid, nack))
        reply.append(_entry_reply(sid, fields))
    if moved:
        out.append(_setid_argv(key, group))
    return reply


def _history(session: Session, key: bytes, stream: Stream, group: Group, consumer_name: bytes,
             start: int, count: int, out: list[list[bytes]]) -> list:
    """streamReplyWithRangeFromConsumerPEL: the consumer's own pending
    entries from start; a deleted entry shows as [id, nil]."""
    now = _now(session)
    consumer = group.consumers[consumer_name]
    reply: list = []
    for sid in sorted(i for i in consumer.pel if i >= start):
        if count and len(reply) >= count:
            break
        fields = stream.get(sid)
        if fields is None:
            reply.append([format_id(sid), NULL_ARRAY])
            continue
        nack = consumer.pel[sid]
        nack.delivery_time = now
        nack.delivery_count += 1
        out.append(_xclaim_argv(key, group, sid, nack))
        reply.append(_entry_reply(sid, fields))
    return reply


def _in_script(session: Session) -> bool:
    engine = getattr(session.server, "scripting", None)
    return engine is not None and engine.running and engine.session is session


def _xread(session: Session, argv: list[bytes], with_group: bool) -> Any:
    name = "xreadgroup" if with_group else "xread"
    timeout_ms = -1
    count = 0
    streams_arg = 0
    group_name = consumer_name = None
    noack = False
    i = 1
    argc = len(argv)
    while i < argc:
        more = argc - i - 1
        opt = argv[i].lower()
        if opt == b"block" and more:
            if _in_script(session):  # Redis 7.0 refuses it rather than never blocking
                raise CommandError("ERR %s command is not allowed with BLOCK option from scripts"
                                   % argv[0].decode("utf-8", "replace"))
            i += 1
            timeout_ms = parse_int(argv[i], "ERR timeout is not an integer or out of range")
            if timeout_ms < 0:
                raise CommandError("ERR timeout is negative")
        elif opt == b"count" and more:
            i += 1
            count = max(parse_int(argv[i]), 0)
        elif opt == b"streams" and more:
            streams_arg = i + 1
            if (argc - streams_arg) % 2:
                raise CommandError(
                    "ERR Unbalanced %s list of streams: for each stream key an ID or '%s' must "
                    "be specified." % (name.upper(), ">" if with_group else "$"))
            break
        elif opt == b"group" and more >= 2:
            if not with_group:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You "
                                   "called XREAD instead.")
            group_name, consumer_name = argv[i + 1], argv[i + 2]
            i += 2
        elif opt == b"noack":
            if not with_group:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You "
                                   "called XREAD instead.")
            noack = True
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if not streams_arg:
        raise CommandError(errors.SYNTAX)
    if with_group and group_name is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    nstreams = (argc - streams_arg) // 2
    keys = argv[streams_arg:streams_arg + nstreams]
    db = session.db
    ids: list[int | None] = []  # None: ">"
    groups: list[Group | None] = []
    rewritten: list[bytes] | None = None
    for n, key in enumerate(keys):
        id_arg = argv[streams_arg + nstreams + n]
        if with_group and session.reexecuting and db.lookup(key).__class__ is not Stream:
            raise CommandError("UNBLOCKED the stream key no longer exists")
        stream = _read_stream(db, key)
        group = None
        if group_name is not None:
            group = stream.groups.get(group_name) if stream is not None else None
            if group is None and session.reexecuting:  # destroyed while it waited
                raise CommandError("NOGROUP the consumer group this client was blocked on no "
                                   "longer exists")
            if group is None:
                raise CommandError(
                    "NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP with GROUP "
                    "option" % (key.decode("utf-8", "replace"), group_name.decode("utf-8", "replace")))
        groups.append(group)
        if id_arg == b"$":
            if with_group:
                raise CommandError(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read "
                    "the history of this consumer by specifying a proper ID, or use the > ID to "
                    "get new messages. The $ ID would just return an empty result set.")
            last = stream.last_id if stream is not None else 0
            ids.append(last)
            if rewritten is None:
                rewritten = list(argv)
            rewritten[streams_arg + nstreams + n] = format_id(last)
        elif id_arg == b">":
            if not with_group:
                raise CommandError("ERR The > ID can be specified only when calling XREADGROUP "
                                   "using the GROUP <group> <consumer> option.")
            ids.append(None)
        else:
            ids.append(strict_id(id_arg))
    served: dict[bytes, Any] = {}
    propagate: list[list[bytes]] = []
    now = _now(session)
    for n, key in enumerate(keys):
        stream = _read_stream(db, key)
        if stream is None:
            continue
        group = groups[n]
        gt = ids[n]
        if group is not None:
            assert consumer_name is not None
            if gt is None and not stream.top_id > group.last_id:
                continue  # nothing new: the consumer is made once something is served
            consumer, created = group.consumer(consumer_name, now)
            consumer.seen_time = now
            if created:
                propagate.append(_consumer_argv(key, group, consumer_name))
                _event(session, b"xgroup-createconsumer", key)
            if gt is not None:  # the consumer's own pending entries
                served[key] = _history(session, key, stream, group, consumer_name,
                                       gt + 1 if gt < MAX_ID else gt, count, propagate)
            else:
                served[key] = _deliver(session, key, stream, group, consumer_name,
                                       group.last_id + 1, count, noack, propagate)
            db.modified(key)
        elif gt is not None and stream.top_id > gt:
            served[key] = [_entry_reply(sid, fields)
                           for sid, fields in stream.range(gt + 1, MAX_ID, count)]
    if propagate:
        _add_propagation(session, propagate)
        db.dirty += 1
    if served:  # a map in RESP3, [[key, entries], ...] in RESP2
        return served if session.protocol == 3 else [[k, v] for k, v in served.items()]
    if timeout_ms != -1:
        return BlockOn(list(keys), timeout_ms / 1000.0, wants=Stream, argv=rewritten,
                       on_gone=with_group)
    return NULL_ARRAY


@command("xread", -4, "readonly blocking", (0, 0, 0), group="stream", since="5.0.0",
         keys_fn=_read_keys,
         summary="Returns messages from multiple streams with IDs greater than the ones requested. "
                 "Blocks until a message is available otherwise.",
         complexity="")
def xread(session: Session, argv: list[bytes]) -> Any:
    return _xread(session, argv, False)


@command("xreadgroup", -7, "write blocking", (0, 0, 0), group="stream", since="5.0.0",
         keys_fn=_read_keys,
         summary="Returns new or historical messages from a stream for a consumer in a group. "
                 "Blocks until a message is available otherwise.",
         complexity="For each stream mentioned: O(M) with M being the number of elements returned. "
                    "If M is constant (e.g. always asking for the first 10 elements with COUNT), you "
                    "can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay "
                    "the O(N) time in order to serve the N clients blocked on the stream getting new "
                    "data.")
def xreadgroup(session: Session, argv: list[bytes]) -> Any:
    return _xread(session, argv, True)


# -- XACK XPENDING XCLAIM XAUTOCLAIM -------------------------------------------------------


@command("xack", -4, "write fast", (1, 1, 1), group="stream", since="5.0.0",
         summary="Returns the number of messages that were successfully acknowledged by the "
                 "consumer group member of a stream.",
         complexity="O(1) for each message ID processed.")
def xack(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    stream = _read_stream(db, argv[1])
    group = stream.groups.get(argv[2]) if stream is not None else None
    ids = [strict_id(arg) for arg in argv[3:]]
    if group is None:
        return 0
    acked = 0
    for sid in ids:
        nack = group.pel.pop(sid, None)
        if nack is not None:
            nack.consumer.pel.pop(sid, None)
            acked += 1
    if acked:
        db.modified(argv[1])
    return acked


@command("xpending", -3, "readonly", (1, 1, 1), group="stream", since="5.0.0",
         summary="Returns the information and entries from a stream consumer group's pending "
                 "entries list.",
         complexity="O(N) with N being the number of elements returned, so asking for a small fixed "
                    "number of entries per call is O(1). O(M), where M is the total number of "
                    "entries scanned when used with the IDLE filter. When the command returns just "
                    "the summary and the list of consumers is small, it runs in O(1) time; "
                    "otherwise, an additional O(N) time for iterating every consumer.",
         tips="nondeterministic_output")
def xpending(session: Session, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc != 3 and not 6 <= argc <= 9:
        raise CommandError(errors.SYNTAX)
    min_idle = 0
    consumer_name = None
    start = end = count = 0
    if argc >= 6:
        idx = 3
        if argv[3].lower() == b"idle":
            min_idle = parse_int(argv[4])
            if argc < 8:
                raise CommandError(errors.SYNTAX)
            idx += 2
        count = max(parse_int(argv[idx + 2]), 0)
        start = _interval(argv[idx], 0, True)
        end = _interval(argv[idx + 1], U64, False)
        if idx + 3 < argc:
            consumer_name = argv[idx + 3]
    db = session.db
    stream = _read_stream(db, argv[1])
    group = stream.groups.get(argv[2]) if stream is not None else None
    if group is None:
        raise _no_group(argv[1], argv[2])
    if argc == 3:
        if not group.pel:
            return [0, None, None, NULL_ARRAY]
        pending = sorted(group.pel)
        owners = [[name, b"%d" % len(c.pel)] for name, c in sorted(group.consumers.items())
                  if c.pel]
        return [len(pending), format_id(pending[0]), format_id(pending[-1]), owners]
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return []
        pel = consumer.pel
    else:
        pel = group.pel
    now = _now(session)
    reply = []
    for sid in sorted(pel):
        if not count:
            break
        if sid < start:
            continue
        if sid > end:
            break
        nack = pel[sid]
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        count -= 1
        reply.append([format_id(sid), nack.consumer.name, max(now - nack.delivery_time, 0),
                      nack.delivery_count])
    return reply


def _claimer(session: Session, key: bytes, group: Group, name: bytes, now: int) -> Any:
    """The consumer claiming entries (streamLookupConsumer, which refreshes
    its seen time, or streamCreateConsumer)."""
    consumer, created = group.consumer(name, now)
    consumer.seen_time = now
    if created:
        _event(session, b"xgroup-createconsumer", key)
    return consumer


def _claim(consumer: Any, sid: int, nack: Pending, delivery_time: int,
           retry_count: int, justid: bool) -> None:
    if nack.consumer is not consumer:
        nack.consumer.pel.pop(sid, None)
        consumer.pel[sid] = nack
        nack.consumer = consumer
    nack.delivery_time = delivery_time
    if retry_count >= 0:
        nack.delivery_count = retry_count
    elif not justid:
        nack.delivery_count += 1


@command("xclaim", -6, "write fast", (1, 1, 1), group="stream", since="5.0.0",
         summary="Changes, or acquires, ownership of a message in a consumer group, as if the "
                 "message was delivered a consumer group member.",
         complexity="O(log N) with N being the number of messages in the PEL of the consumer group.",
         tips="nondeterministic_output")
def xclaim(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key, group_name, consumer_name = argv[1], argv[2], argv[3]
    stream = _read_stream(db, key)
    group = stream.groups.get(group_name) if stream is not None else None
    if stream is None or group is None:
        raise _no_group(key, group_name)
    min_idle = max(parse_int(argv[4], "ERR Invalid min-idle-time argument for XCLAIM"), 0)
    ids = []
    j = 5
    while j < len(argv):
        try:
            ids.append(strict_id(argv[j]))
        except CommandError:
            break
        j += 1
    now = _now(session)
    delivery_time = -1
    retry_count = -1
    force = justid = False
    last_id = 0
    while j < len(argv):
        more = len(argv) - 1 - j
        opt = argv[j].lower()
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt == b"idle" and more:
            j += 1
            delivery_time = now - parse_int(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif opt == b"time" and more:
            j += 1
            delivery_time = parse_int(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif opt == b"retrycount" and more:
            j += 1
            retry_count = parse_int(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif opt == b"lastid" and more:
            j += 1
            last_id = strict_id(argv[j])
        else:
            raise CommandError("ERR Unrecognized XCLAIM option '%s'"
                               % argv[j].decode("utf-8", "replace"))
        j += 1
    propagate: list[list[bytes]] = []
    propagate_last_id = False
    if last_id > group.last_id:
        group.last_id = last_id
        propagate_last_id = True
    if delivery_time < 0 or delivery_time > now:
        delivery_time = now
    reply: list = []
    for sid in ids:
        nack = group.pel.get(sid)
        fields = stream.get(sid)
        if fields is None:
            if nack is not None:  # gone from the stream: gone from the PEL
                propagate.append(_xclaim_argv(key, group, sid, nack))
                propagate_last_id = False
                del group.pel[sid]
                nack.consumer.pel.pop(sid, None)
            continue
        forced = False
        if force and nack is None:
            claimer = _claimer(session, key, group, consumer_name, now)
            nack = group.pel[sid] = Pending(now, 1, claimer)
            claimer.pel[sid] = nack
            forced = True
        if nack is None:
            continue
        if not forced and min_idle and now - nack.delivery_time < min_idle:
            continue
        claimer = _claimer(session, key, group, consumer_name, now)
        _claim(claimer, sid, nack, delivery_time, retry_count, justid)
        reply.append(format_id(sid) if justid else _entry_reply(sid, fields))
        propagate.append(_xclaim_argv(key, group, sid, nack))
        propagate_last_id = False
    if propagate_last_id:
        propagate.append(_setid_argv(key, group))
    if propagate:
        db.modified(key)
        session.propagate = propagate
    return reply


@command("xautoclaim", -6, "write fast", (1, 1, 1), group="stream", since="6.2.0",
         summary="Changes, or acquires, ownership of messages in a consumer group, as if the "
                 "messages were delivered to as consumer group member.",
         complexity="O(1) if COUNT is small.", tips="nondeterministic_output")
def xautoclaim(session: Session, argv: list[bytes]) -> Any:
    key, group_name, consumer_name = argv[1], argv[2], argv[3]
    min_idle = max(parse_int(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start = _interval(argv[5], 0, True)
    count = 100
    justid = False
    j = 6
    while j < len(argv):
        more = len(argv) - 1 - j
        opt = argv[j].lower()
        if opt == b"count" and more:
            count = parse_int(argv[j + 1], "ERR COUNT must be > 0")
            if not 1 <= count <= (1 << 63) // 16:
                raise CommandError("ERR COUNT must be > 0")
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    db = session.db
    stream = _read_stream(db, key)
    group = stream.groups.get(group_name) if stream is not None else None
    if stream is None or group is None:
        raise _no_group(key, group_name)
    now = _now(session)
    attempts = count * 10
    claimed: list = []
    deleted: list[bytes] = []
    propagate: list[list[bytes]] = []
    pending = [sid for sid in sorted(group.pel) if sid >= start]
    pos = 0
    while attempts and count and pos < len(pending):
        attempts -= 1
        sid = pending[pos]
        pos += 1
        nack = group.pel[sid]
        fields = stream.get(sid)
        if fields is None:
            propagate.append(_xclaim_argv(key, group, sid, nack))
            del group.pel[sid]
            nack.consumer.pel.pop(sid, None)
            deleted.append(format_id(sid))
            count -= 1
            continue
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        claimer = _claimer(session, key, group, consumer_name, now)
        _claim(claimer, sid, nack, now, -1, justid)
        claimed.append(format_id(sid) if justid else _entry_reply(sid, fields))
        count -= 1
        propagate.append(_xclaim_argv(key, group, sid, nack))
    cursor = format_id(pending[pos]) if pos < len(pending) else b"0-0"
    if propagate:
        db.modified(key)
        session.propagate = propagate
    return [cursor, claimed, deleted]


# -- XGROUP ------------------------------------------------------------------------------

XGROUP = container("xgroup", -2, group="stream", since="5.0.0",
                   summary="A container for consumer groups commands.",
                   complexity="Depends on subcommand.")


def _group_target(session: Session, argv: list[bytes], mkstream: bool = False,
                  need_group: bool = True) -> tuple[Stream | None, Group | None]:
    """The stream and group XGROUP names, with Redis's errors for a missing
    key (unless MKSTREAM) or group."""
    stream = _write_stream(session.db, argv[2])
    if stream is None:
        if mkstream:
            return None, None
        raise CommandError("ERR The XGROUP subcommand requires the key to exist. Note that for "
                           "CREATE you may want to use the MKSTREAM option to create an empty "
                           "stream automatically.")
    group = stream.groups.get(argv[3])
    if group is None and need_group:
        raise CommandError("NOGROUP No such consumer group '%s' for key name '%s'"
                           % (argv[3].decode("utf-8", "replace"), argv[2].decode("utf-8", "replace")))
    return stream, group


def _entries_read(arg: bytes) -> int:
    value = parse_int(arg)
    if value < 0 and value != INVALID_ENTRIES_READ:
        raise CommandError(ENTRIES_READ_RANGE)
    return value


def _subcommand_syntax(argv: list[bytes], parent: str = "XGROUP") -> CommandError:
    """addReplySubcommandSyntaxError."""
    return CommandError("ERR unknown subcommand or wrong number of arguments for '%s'. Try %s "
                        "HELP." % (argv[1].decode("utf-8", "replace"), parent))


@subcommand(XGROUP, "create", -5, "write denyoom", (2, 2, 1), since="5.0.0",
            summary="Creates a consumer group.", complexity="O(1)")
def xgroup_create(session: Session, argv: list[bytes]) -> Any:
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    i = 5
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"mkstream":
            mkstream = True
            i += 1
        elif opt == b"entriesread" and i + 1 < len(argv):
            entries_read = _entries_read(argv[i + 1])
            i += 2
        else:
            raise _subcommand_syntax(argv)
    if len(argv) > 8:
        raise _subcommand_syntax(argv)
    stream, group = _group_target(session, argv, mkstream, need_group=False)
    if argv[4] == b"$":
        sid = stream.last_id if stream is not None else 0
    else:
        sid = strict_id(argv[4])
    db = session.db
    if stream is None:
        stream = Stream()
        db.set(argv[2], stream)
    if group is not None:
        raise CommandError("BUSYGROUP Consumer Group name already exists")
    stream.groups[argv[3]] = Group(argv[3], sid, entries_read)
    db.modified(argv[2])
    _event(session, b"xgroup-create", argv[2])
    return OK


@subcommand(XGROUP, "setid", -5, "write", (2, 2, 1), since="5.0.0",
            summary="Sets the last-delivered ID of a consumer group.", complexity="O(1)")
def xgroup_setid(session: Session, argv: list[bytes]) -> Any:
    if len(argv) not in (5, 7):
        raise _subcommand_syntax(argv)
    stream, group = _group_target(session, argv)
    assert stream is not None and group is not None
    if argv[4] == b"$":
        sid = stream.last_id
    else:
        sid = parse_id(argv[4])[0]
    entries_read = INVALID_ENTRIES_READ
    if len(argv) == 7:
        if argv[5].lower() != b"entriesread":
            raise _subcommand_syntax(argv)
        entries_read = _entries_read(argv[6])
    group.last_id = sid
    group.entries_read = entries_read
    session.db.modified(argv[2])
    _event(session, b"xgroup-setid", argv[2])
    return OK


@subcommand(XGROUP, "destroy", 4, "write", (2, 2, 1), since="5.0.0",
            summary="Destroys a consumer group.",
            complexity="O(N) where N is the number of entries in the group's pending entries list (PEL).")
def xgroup_destroy(session: Session, argv: list[bytes]) -> Any:
    stream, group = _group_target(session, argv, need_group=False)
    assert stream is not None
    if group is None:
        return 0
    del stream.groups[argv[3]]
    session.db.modified(argv[2])  # wakes its XREADGROUP clients, who get NOGROUP
    _event(session, b"xgroup-destroy", argv[2])
    return 1


@subcommand(XGROUP, "createconsumer", 5, "write denyoom", (2, 2, 1), since="6.2.0",
            summary="Creates a consumer in a consumer group.", complexity="O(1)")
def xgroup_createconsumer(session: Session, argv: list[bytes]) -> Any:
    _, group = _group_target(session, argv)
    assert group is not None
    _, created = group.consumer(argv[4], _now(session))
    if not created:
        return 0
    session.db.modified(argv[2])
    _event(session, b"xgroup-createconsumer", argv[2])
    return 1


@subcommand(XGROUP, "delconsumer", 5, "write", (2, 2, 1), since="5.0.0",
            summary="Deletes a consumer from a consumer group.", complexity="O(1)")
def xgroup_delconsumer(session: Session, argv: list[bytes]) -> Any:
    _, group = _group_target(session, argv)
    assert group is not None
    if argv[4] not in group.consumers:
        return 0
    pending = group.delete_consumer(argv[4])
    session.db.modified(argv[2])
    _event(session, b"xgroup-delconsumer", argv[2])
    return pending


help_subcommand(XGROUP, [
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
], since="5.0.0")


# -- XINFO -------------------------------------------------------------------------------

XINFO = container("xinfo", -2, group="stream", since="5.0.0",
                  summary="A container for stream introspection commands.",
                  complexity="Depends on subcommand.")


def _stream_or_error(session: Session, key: bytes) -> Stream:
    stream = _read_stream(session.db, key)
    if stream is None:
        raise CommandError(errors.NO_SUCH_KEY)
    return stream


@subcommand(XINFO, "consumers", 4, "readonly", (2, 2, 1), since="5.0.0",
            summary="Returns a list of the consumers in a consumer group.", complexity="O(1)",
            tips="nondeterministic_output")
def xinfo_consumers(session: Session, argv: list[bytes]) -> Any:
    stream = _stream_or_error(session, argv[2])
    group = stream.groups.get(argv[3])
    if group is None:
        raise CommandError("NOGROUP No such consumer group '%s' for key name '%s'"
                           % (argv[3].decode("utf-8", "replace"), argv[2].decode("utf-8", "replace")))
    now = _now(session)
    return [{b"name": name, b"pending": len(c.pel), b"idle": max(now - c.seen_time, 0)}
            for name, c in sorted(group.consumers.items())]


def _group_info(stream: Stream, group: Group) -> dict:
    return {
        b"name": group.name,
        b"consumers": len(group.consumers),
        b"pending": len(group.pel),
        b"last-delivered-id": format_id(group.last_id),
        b"entries-read": None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read,
        b"lag": stream.group_lag(group),
    }


@subcommand(XINFO, "groups", 3, "readonly", (2, 2, 1), since="5.0.0",
            summary="Returns a list of the consumer groups of a stream.", complexity="O(1)")
def xinfo_groups(session: Session, argv: list[bytes]) -> Any:
    stream = _stream_or_error(session, argv[2])
    return [_group_info(stream, group) for _, group in sorted(stream.groups.items())]


def _radix_nodes(stream: Stream) -> int:
    """radix-tree-nodes has no meaning here: an estimate of Redis's count."""
    return len(stream.nodes) * 2 if stream.nodes else 1


@subcommand(XINFO, "stream", -3, "readonly", (2, 2, 1), since="5.0.0",
            summary="Returns information about a stream.", complexity="O(1)")
def xinfo_stream(session: Session, argv: list[bytes]) -> Any:
    stream = _stream_or_error(session, argv[2])
    full = False
    count = 10
    if len(argv) > 3:
        if len(argv) not in (4, 6) or argv[3].lower() != b"full" or (
                len(argv) == 6 and argv[4].lower() != b"count"):
            raise _subcommand_syntax(argv, "XINFO")
        full = True
        if len(argv) == 6:
            count = parse_int(argv[5])
            if count < 0:
                count = 10
    info: dict[bytes, Any] = {
        b"length": len(stream),
        b"radix-tree-keys": len(stream.nodes),
        b"radix-tree-nodes": _radix_nodes(stream),
        b"last-generated-id": format_id(stream.last_id),
        b"max-deleted-entry-id": format_id(stream.max_deleted_id),
        b"entries-added": stream.entries_added,
        b"recorded-first-entry-id": format_id(stream.first_id),
    }
    if not full:
        info[b"groups"] = len(stream.groups)
        first = stream.range(0, MAX_ID, 1)
        last = stream.last_entry()
        info[b"first-entry"] = _entry_reply(*first[0]) if first else None
        info[b"last-entry"] = _entry_reply(*last) if last else None
        return info
    info[b"entries"] = [_entry_reply(sid, fields) for sid, fields in stream.range(0, MAX_ID, count)]
    groups = []
    for _, group in sorted(stream.groups.items()):
        g = _group_info(stream, group)
        del g[b"consumers"], g[b"pending"]
        g[b"pel-count"] = len(group.pel)
        pel = sorted(group.pel.items())
        if count:
            pel = pel[:count]
        g[b"pending"] = [[format_id(sid), nack.consumer.name, nack.delivery_time,
                          nack.delivery_count] for sid, nack in pel]
        consumers = []
        for name, consumer in sorted(group.consumers.items()):
            cpel = sorted(consumer.pel.items())
            if count:
                cpel = cpel[:count]
            consumers.append({
                b"name": name, b"seen-time": consumer.seen_time, b"pel-count": len(consumer.pel),
                b"pending": [[format_id(sid), nack.delivery_time, nack.delivery_count]
                             for sid, nack in cpel],
            })
        g[b"consumers"] = consumers
        groups.append(g)
    info[b"groups"] = groups
    return info


help_subcommand(XINFO, [
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
], since="5.0.0")
