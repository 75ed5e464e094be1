# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled versions of hot pieces of the pure-Python modules (ringcache/accel.py
decides which runs; RINGCACHE_PURE=1 forces the pure ones).

Every function here has a pure-Python twin that is the source of truth, named
in its docstring; the twin's comments explain the why and are not repeated.
A change to one is a change to both: tests/wire/test_accelerated.py runs
random workloads against a node on each path and compares the bytes of every
reply and the final state, and CI runs the suite both ways.

Why a .pyx and not pure-Python mode with .pxd files: the pure modules are
shaped for CPython's interpreter (locals bound to skip attribute lookups,
reply encoding inlined into the loop), and what Cython needs is different
(C types, C calls): annotating the pure code in place would tie the two
together and make the source of truth harder to read. Here the compiled
loop is a line-by-line transcription, with C types for the counters and the
clock.
"""

from cpython.bytes cimport PyBytes_Check, PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsSsize_t, PyLong_FromSsize_t, PyLong_FromLong
from cpython.exc cimport PyErr_Occurred
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from cpython.object cimport PyObject, Py_SIZE
from libc.string cimport memcpy
from collections import deque as _deque
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

cdef extern from "Python.h":
    # PyDict_GetItem without the save and restore of the error indicator
    # that the legacy call makes (~30 instructions a lookup). Only for dicts
    # whose keys are bytes (argv, keyspaces, members), whose hash and
    # comparison cannot fail, so no error is ever left set.
    PyObject* _dict_get "PyDict_GetItemWithError"(object, object)
    Py_ssize_t PySet_GET_SIZE(object)

from .commands._blocking import BlockOn
from .protocol.resp import BULK_HEADERS, INT_REPLIES, Raw


cdef inline double _clock() noexcept nogil:
    # time.perf_counter() on Linux, without the Python call.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


# -- the reply buffer ----------------------------------------------------------
#
# The replies of a batch are written into one buffer, not appended to a list
# and joined: three list appends per bulk reply and the join's pass over the
# parts cost more than the copy. The buffer starts on the C stack (a batch of
# small replies never allocates) and moves to the heap when it outgrows it.

cdef enum:
    STACK_OUT = 16384


cdef struct Out:
    char* data
    Py_ssize_t used
    Py_ssize_t cap
    bint heap


cdef int _grow(Out* o, Py_ssize_t n) except -1:
    cdef Py_ssize_t cap = o.cap * 2
    cdef char* data
    if cap < o.used + n:
        cap = o.used + n
    if o.heap:
        data = <char*>PyMem_Realloc(o.data, cap)
    else:
        data = <char*>PyMem_Malloc(cap)
        if data != NULL:
            memcpy(data, o.data, o.used)
    if data == NULL:
        raise MemoryError()
    o.data = data
    o.cap = cap
    o.heap = True
    return 0


cdef inline int _put(Out* o, const char* s, Py_ssize_t n) except -1:
    if o.used + n > o.cap:
        _grow(o, n)
    memcpy(o.data + o.used, s, n)
    o.used += n
    return 0


cdef inline int _put_bytes(Out* o, object chunk) except -1:
    # (bytes or a subclass: Raw; anything else an encoder made goes through bytes())
    if not PyBytes_Check(chunk):
        chunk = bytes(chunk)
    return _put(o, PyBytes_AS_STRING(chunk), PyBytes_GET_SIZE(chunk))


cdef inline int _put_line(Out* o, char kind, long long n) except -1:
    # kind, n in decimal, CRLF: ":42\r\n", "$5\r\n", "*3\r\n".
    cdef char text[24]
    cdef Py_ssize_t at = 24
    cdef unsigned long long u = <unsigned long long>(-n) if n < 0 else <unsigned long long>n
    at -= 1
    text[at] = c'\n'
    at -= 1
    text[at] = c'\r'
    while True:
        at -= 1
        text[at] = <char>(c'0' + u % 10)
        u //= 10
        if u == 0:
            break
    if n < 0:
        at -= 1
        text[at] = c'-'
    at -= 1
    text[at] = kind
    return _put(o, text + at, 24 - at)


cdef inline int _put_bulk(Out* o, bytes value) except -1:
    cdef Py_ssize_t size = PyBytes_GET_SIZE(value)
    _put_line(o, c'$', size)
    if o.used + size + 2 > o.cap:
        _grow(o, size + 2)
    memcpy(o.data + o.used, PyBytes_AS_STRING(value), size)
    o.data[o.used + size] = c'\r'
    o.data[o.used + size + 1] = c'\n'
    o.used += size + 2
    return 0


cdef int _put_int(Out* o, object value) except -1:
    cdef int overflow = 0
    cdef long long n = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        return _put_bytes(o, b":%d\r\n" % value)
    return _put_line(o, c':', n)


cdef int _put_reply(Out* o, object reply, object session, int depth, int* resp) except -1:
    # The reply as session.encode (protocol/resp.py) would write it: bulk
    # strings, integers, nulls, doubles, arrays and maps of them here, anything
    # else (and arrays nested deeper than a few levels) through
    # session.encode. *resp is the session's protocol, read at the first
    # double or map (0: not read yet).
    cdef object klass = type(reply)
    cdef list parts
    cdef bytes text
    if klass is bytes:
        return _put_bulk(o, <bytes>reply)
    if klass is int:
        return _put_int(o, reply)
    if klass is Raw:
        return _put_bytes(o, reply)
    if reply is None:
        return _put_bytes(o, session.null)
    if (klass is list or klass is tuple) and depth < 4:
        _put_line(o, c'*', len(reply))
        for item in reply:
            _put_reply(o, item, session, depth + 1, resp)
        return 0
    if klass is dict and depth < 4:
        # (protocol/resp.py mapping: a map in RESP3, a flat array in RESP2)
        if resp[0] == 0:
            resp[0] = 3 if session.protocol == 3 else 2
        _put_line(o, c'%' if resp[0] == 3 else c'*', len(reply) if resp[0] == 3 else 2 * len(reply))
        for key, value in (<dict>reply).items():
            _put_reply(o, key, session, depth + 1, resp)
            _put_reply(o, value, session, depth + 1, resp)
        return 0
    if klass is float:
        if resp[0] == 0:
            resp[0] = 3 if session.protocol == 3 else 2
        text = _format_double(reply)
        if resp[0] == 2:
            return _put_bulk(o, text)
        _put(o, ",", 1)
        _put_bytes(o, text)
        return _put(o, "\r\n", 2)
    parts = []
    session.encode(parts, reply)  # (not cached: HELLO may switch it)
    for chunk in parts:
        _put_bytes(o, chunk)
    return 0


# -- the commands' table, as the loop reads it ---------------------------------
#
# What the loop needs of a CommandSpec (a dataclass: each attribute read is a
# dict lookup behind a type lookup, ~100 instructions) is copied once into an
# _Entry with C fields. The calls and time of INFO commandstats are counted
# there and added to the spec when something is about to read or reset them:
# Dispatcher.settle_counts() (INFO, CONFIG RESETSTAT and total_commands call
# it; here: settle_counts) — not per batch, where the two attribute writes
# cost more than a whole GET. Adding is order-free, so code that changes a
# spec's counts meanwhile (server/blocking.py) needs no settling. The keyspace
# hits and misses the typed handlers count wait only until the end of the
# batch or the next Python handler (_hit, _miss, _settle): more code reads
# those.

cdef class _Entry:
    cdef object spec
    cdef object handler
    cdef Py_ssize_t arity
    cdef bint plain  # no subcommands
    cdef long long calls
    cdef double time_s
    cdef bint counted  # in the batch's `counted` list

    def __cinit__(self, spec):
        self.spec = spec
        self.handler = spec.handler
        self.arity = spec.arity
        self.plain = not spec.subcommands


cdef class _Loop:
    """What execute_batch keeps between batches for one table (the
    dispatcher's `compiled_entries`, made again when the table is replaced):
    the entries by name, the last name looked up (the compiled parser hands
    out the same bytes object for a repeated command name, so a pipeline of
    one command finds its entry by identity, without hashing the name), and
    objects that are the same for the node's life."""
    cdef object table
    cdef dict entries
    cdef object last_name
    cdef _Entry last_entry
    cdef object monitors  # a set
    cdef object ready  # a deque (server/blocking.py)

    def __cinit__(self, table, monitors, ready):
        cdef dict by_spec = {}
        self.table = table
        self.entries = {}
        for name, spec in table.items():
            entry = by_spec.get(id(spec))
            if entry is None:
                entry = by_spec[id(spec)] = _Entry(spec)
            self.entries[name] = entry
        if type(monitors) is not set or type(ready) is not _deque:
            raise TypeError("execute_batch reads the monitors as a set, the ready keys as a deque")
        self.monitors = monitors
        self.ready = ready


cdef object _pending_stats = None  # the KeyspaceStats the counts below belong to
cdef Py_ssize_t _pending_hits = 0
cdef Py_ssize_t _pending_misses = 0


cdef int _settle_stats() except -1:
    global _pending_stats, _pending_hits, _pending_misses
    if _pending_stats is not None:
        stats = _pending_stats
        _pending_stats = None
        if _pending_hits:
            _set_slot(stats, S_HITS, _slot(stats, S_HITS) + _pending_hits)
        if _pending_misses:
            _set_slot(stats, S_MISSES, _slot(stats, S_MISSES) + _pending_misses)
        _pending_hits = _pending_misses = 0
    return 0


cdef inline int _count(object db, Py_ssize_t hits, Py_ssize_t misses) except -1:
    # (the stats object has KeyspaceStats' layout: execute_batch checked)
    global _pending_stats, _pending_hits, _pending_misses
    cdef object stats = _slot(db, K_STATS)
    if stats is not _pending_stats:
        _settle_stats()
        _pending_stats = stats
    _pending_hits += hits
    _pending_misses += misses
    return 0


cdef inline int _hit(object db) except -1:
    return _count(db, 1, 0)


cdef inline int _miss(object db) except -1:
    return _count(db, 0, 1)


cdef list _counted = []  # the entries with counts not yet added to their spec


def settle_counts():
    """Dispatcher.settle_counts, compiled: every command counted so far
    reaches its spec's calls and time_s."""
    cdef _Entry entry
    for entry in _counted:
        spec = entry.spec
        spec.calls += entry.calls
        spec.time_s += entry.time_s
        entry.calls = 0
        entry.time_s = 0.0
        entry.counted = False
    del _counted[:]


cdef inline int _settle(object session, object last) except -1:
    # What the loop keeps for a Python handler to see: the keyspace counts
    # and the session's last command.
    _settle_stats()
    if last is not None:
        _set_slot(session, SS_LAST_COMMAND, last)
    return 0


cdef inline bint _any(object deque_) noexcept:
    # len(deque_) != 0 without a call (a deque is a PyVarObject: its size is
    # ob_size; _Loop keeps only collections.deque here).
    return Py_SIZE(deque_) != 0


cdef inline bint _typed_db(object db) except -1:
    # Whether the typed handlers may run on db: exactly a Keyspace, with
    # stats of KeyspaceStats' layout (the slot offsets are those classes').
    return type(db) is Keyspace and _stats_layout(type(_slot(db, K_STATS)))


# The Dispatcher's and the Session's fields execute_batch reads, at their
# slot's offset (both classes declare them in __slots__; server/dispatch.py
# binds them at import, before a Dispatcher can exist): ~10 instructions a
# read instead of ~190 through getattr, about twelve reads a batch.
cdef Py_ssize_t D_TABLE, D_COMPILED_ENTRIES, D_TRACKING_ACTIVE, D_PROPAGATING, D_MAXMEMORY
cdef Py_ssize_t D_SLOWLOG_THRESHOLD, D_CLUSTER
cdef Py_ssize_t SS_GATED, SS_DB, SS_LAST_COMMAND, SS_CLOSING, SS_BLOCKED, SS_AUTHENTICATED
cdef Py_ssize_t SS_LAST_INTERACTION, SS_SUBSCRIPTIONS, SS_IS_REPLICA
cdef object _Dispatcher = None
cdef object _Session = None


def bind_dispatcher(dispatcher, session):
    global _Dispatcher, _Session, D_TABLE, D_COMPILED_ENTRIES, D_TRACKING_ACTIVE, D_PROPAGATING, D_MAXMEMORY
    global D_SLOWLOG_THRESHOLD, D_CLUSTER, SS_GATED, SS_DB, SS_LAST_COMMAND, SS_CLOSING, SS_BLOCKED
    global SS_AUTHENTICATED, SS_LAST_INTERACTION, SS_SUBSCRIPTIONS, SS_IS_REPLICA
    D_TABLE = _offset(dispatcher, "table")
    D_COMPILED_ENTRIES = _offset(dispatcher, "compiled_entries")
    D_TRACKING_ACTIVE = _offset(dispatcher, "tracking_active")
    D_PROPAGATING = _offset(dispatcher, "propagating")
    D_MAXMEMORY = _offset(dispatcher, "maxmemory")
    D_SLOWLOG_THRESHOLD = _offset(dispatcher, "slowlog_threshold")
    D_CLUSTER = _offset(dispatcher, "cluster")
    SS_GATED = _offset(session, "gated")
    SS_DB = _offset(session, "db")
    SS_LAST_COMMAND = _offset(session, "last_command")
    SS_CLOSING = _offset(session, "closing")
    SS_BLOCKED = _offset(session, "blocked")
    SS_AUTHENTICATED = _offset(session, "authenticated")
    SS_LAST_INTERACTION = _offset(session, "last_interaction")
    SS_SUBSCRIPTIONS = _offset(session, "subscriptions")
    SS_IS_REPLICA = _offset(session, "is_replica")
    _Dispatcher = dispatcher
    _Session = session


def execute_batch(self, session, list commands, reply_budget=1 << 62):
    """ringcache.server.dispatch.Dispatcher.execute_batch, compiled.

    Differences that no reply or state shows: the replies go into one
    buffer (above) and the reply budget counts all of it; commandstats wait
    in the entries for settle_counts (above), the keyspace's hits and misses
    and session.last_command are written once per run of plain commands
    (_settle: before any Python handler runs and at the end); what the
    loop reads of the session (gated, db, closing) is read again after each
    Python call, the only code that can change it."""
    if not isinstance(self, _Dispatcher) or not isinstance(session, _Session):
        raise TypeError("execute_batch reads a Dispatcher's and a Session's slots")
    return _execute_batch(self, session, commands,
                          reply_budget if reply_budget < (1 << 62) else (1 << 62))


cdef tuple _execute_batch(object self, object session, list commands, Py_ssize_t budget):
    # (execute_batch's body: on_readable calls it without the Python call)
    cdef char stack[STACK_OUT]
    cdef Out o
    o.data = stack
    o.used = 0
    o.cap = STACK_OUT
    o.heap = False
    cdef object table = _slot(self, D_TABLE)
    cdef _Loop loop = _slot(self, D_COMPILED_ENTRIES)
    if loop is None or loop.table is not table:
        loop = _Loop(table, self.monitors, self.server.blocking.ready)
        _set_slot(self, D_COMPILED_ENTRIES, loop)
    cdef dict entries = loop.entries
    cdef object monitors = loop.monitors
    cdef object ready = loop.ready
    cdef bint tracking = _slot(self, D_TRACKING_ACTIVE)
    cdef bint propagating = _slot(self, D_PROPAGATING)
    cdef bint maxmemory = _slot(self, D_MAXMEMORY)
    cdef double threshold = _slot(self, D_SLOWLOG_THRESHOLD)
    cdef double previous = _clock()
    cdef double now, elapsed
    cdef Py_ssize_t done = 0
    cdef Py_ssize_t argc
    cdef bint plain, typed_db
    cdef list argv
    cdef object db, dirty_before, reply, klass, name, last = None
    cdef _Entry entry
    cdef PyObject* found
    cdef bint gated = _slot(session, SS_GATED)
    cdef bint closing
    cdef int resp
    db = _slot(session, SS_DB)
    typed_db = _typed_db(db)
    try:
        for argv in commands:
            done += 1
            name = argv[0]
            if name is loop.last_name:
                entry = loop.last_entry
                plain = not gated
            else:
                found = _dict_get(entries, name)
                plain = found != NULL and not gated
                if plain:
                    entry = <_Entry>found
                    loop.last_name = name
                    loop.last_entry = entry
            if plain:
                argc = len(argv)
                plain = entry.plain and ((argc == entry.arity) if entry.arity > 0 else (argc >= -entry.arity))
            if plain and maxmemory:
                plain = not self._memory_pressed()
            if not plain:
                _settle(session, last)
                last = None
                reply = self._execute(session, argv)
                previous = _clock()
                tracking = _slot(self, D_TRACKING_ACTIVE)
                propagating = _slot(self, D_PROPAGATING)
                maxmemory = _slot(self, D_MAXMEMORY)
                gated = _slot(session, SS_GATED)
                db = _slot(session, SS_DB)
                typed_db = _typed_db(db)
                closing = _slot(session, SS_CLOSING)
            else:
                dirty_before = _slot(db, K_DIRTY) if typed_db else db.dirty
                closing = False
                try:
                    reply = _typed(entry.handler, db, argv) if typed_db else PASS
                    if reply is PASS:
                        _settle(session, last)
                        last = None
                        reply = entry.handler(session, argv)
                        gated = _slot(session, SS_GATED)
                        db = _slot(session, SS_DB)
                        typed_db = _typed_db(db)
                        closing = _slot(session, SS_CLOSING)
                except Exception as exc:
                    reply = self._failed(entry.spec, exc)
                now = _clock()
                elapsed = now - previous
                previous = now
                entry.calls += 1
                entry.time_s += elapsed
                if not entry.counted:
                    entry.counted = True
                    _counted.append(entry)
                if elapsed > threshold:
                    self._slowlog_add(session, entry.spec, argv, elapsed)
                if tracking:
                    self.server.tracking.after_command(session, entry.spec, argv,
                                                       db.dirty != dirty_before)
                if propagating:
                    self.propagate(session, entry.spec, argv, db, dirty_before)
                if PySet_GET_SIZE(monitors):
                    self.server.feed_monitors(session, argv, entry.spec)
                last = name
            klass = type(reply)
            if klass is bytes:
                _put_bulk(&o, <bytes>reply)
            elif klass is Raw:  # (+OK and other replies encoded once)
                _put(&o, PyBytes_AS_STRING(reply), PyBytes_GET_SIZE(reply))
            elif klass is BlockOn:
                _settle(session, last)
                last = None
                self.server.blocking.block(session, argv, reply)
                break
            else:
                resp = 0
                _put_reply(&o, reply, session, 0, &resp)
            if _any(ready):
                _settle(session, last)
                last = None
                self.server.blocking.serve()
                closing = _slot(session, SS_CLOSING)
            if closing or o.used > budget:
                break
        _settle(session, last)
        if _slot(self, D_PROPAGATING):
            self.stream.flush()
        return PyBytes_FromStringAndSize(o.data, o.used), done
    finally:
        _settle_stats()  # (an exception left the loop: the counts still hold)
        if o.heap:
            PyMem_Free(o.data)


def take_commands(reader, list commands):
    """ringcache.protocol.parser.take_commands, compiled: the argument check
    is a type test per argument instead of a join."""
    cdef object gets = reader.gets
    cdef object command, arg
    while True:
        command = gets()
        if command is False:
            return True
        if type(command) is not list or not command:
            return False
        for arg in <list>command:
            # (join accepts any bytes-like object; hiredis makes only bytes)
            if not PyBytes_Check(arg):
                return False
        commands.append(command)


# -- loading a snapshot (a replica's full sync, a start-up load) --------------

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr, memcmp


def scan_strings(bytes buf, Py_ssize_t pos, list keys, list values, Py_ssize_t limit):
    """ringcache.persistence.rdb.scan_strings, compiled."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t count = len(keys)
    cdef Py_ssize_t n, m, at, stop
    while count < limit and pos + 1 < end and p[pos] == 0:
        n = p[pos + 1]
        if n >= 64:
            break
        at = pos + 2 + n
        if at >= end:
            break
        m = p[at]
        if m >= 64:
            break
        stop = at + 1 + m
        if stop > end:
            break
        keys.append(PyBytes_FromStringAndSize(<const char*>p + pos + 2, n))
        values.append(PyBytes_FromStringAndSize(<const char*>p + at + 1, m))
        count += 1
        pos = stop
    return pos


cdef unsigned short _CRC16[256]


cdef void _crc16_table() noexcept:
    # CRC16-XMODEM (poly 0x1021, init 0): binascii.crc_hqx(key, 0), Redis's crc16.
    cdef unsigned int i, j, crc
    for i in range(256):
        crc = i << 8
        for j in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        _CRC16[i] = crc & 0xFFFF


_crc16_table()


cdef inline unsigned int _crc16(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef unsigned int crc = 0
    cdef Py_ssize_t i
    for i in range(n):
        crc = ((crc << 8) ^ _CRC16[((crc >> 8) ^ p[i]) & 0xFF]) & 0xFFFF
    return crc


cdef inline unsigned int _key_slot(bytes key) noexcept:
    """ringcache.storage.slots.key_slot: CRC16 of the key, or of its {hash tag}."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(key)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(key)
    cdef const unsigned char* open_ = <const unsigned char*>memchr(p, ord("{"), n)
    cdef const unsigned char* close
    if open_ != NULL:
        close = <const unsigned char*>memchr(open_ + 1, ord("}"), n - (open_ - p) - 1)
        if close != NULL and close - open_ > 1:
            return _crc16(open_ + 1, close - open_ - 1) & 16383
    return _crc16(p, n) & 16383


def slots_add_many(self, list keys):
    """ringcache.storage.slots.SlotIndex.add_many, compiled."""
    cdef list buckets = self.buckets
    cdef unsigned int slot
    cdef object bucket
    for key in keys:
        slot = _key_slot(key)
        bucket = buckets[slot]
        if bucket is not None and type(bucket) is list and len(<list>bucket) < 96:
            (<list>bucket).append(key)
        else:
            self.add(key)


def record_lru(unsigned int[:] cells, list keys, Py_ssize_t mask, unsigned int now):
    """ringcache.storage.access.record_lru, compiled."""
    cdef object key
    for key in keys:
        cells[<Py_ssize_t>(hash(key) & mask)] = now


# -- parsing whole requests (ringcache/protocol/parser.py, RequestReader.feed) --

from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF


cdef inline Py_ssize_t _header(const char* p, Py_ssize_t* at, Py_ssize_t end,
                               Py_ssize_t max_digits) noexcept:
    """The canonical decimal at p[*at] up to its CRLF (no sign, no leading
    zero, at most max_digits digits); -1 for anything else. Moves *at past
    the CRLF."""
    cdef Py_ssize_t pos = at[0]
    cdef Py_ssize_t start = pos
    cdef Py_ssize_t value = 0
    cdef char c
    while pos < end:
        c = p[pos]
        if c == c'\r':
            break
        if c < c'0' or c > c'9' or pos - start >= max_digits:
            return -1
        value = value * 10 + (c - c'0')
        pos += 1
    if pos == start or pos + 1 >= end or p[pos + 1] != c'\n':
        return -1
    if p[start] == c'0' and pos - start > 1:
        return -1
    at[0] = pos + 2
    return value


# Command names: the same bytes object for the same name, from a small
# direct-mapped cache (no dict: that would hash the name it is meant to spare
# hashing). A pipeline of GETs then gives execute_batch one name object,
# whose hash is computed once and whose entry it finds by identity.
cdef enum:
    NAME_MAX = 24
    NAME_SLOTS = 64

cdef list _NAMES = [None] * NAME_SLOTS


cdef inline object _name(const char* p, Py_ssize_t n):
    cdef Py_ssize_t slot = (n * 7 + (<unsigned char>p[0]) * 3 + (<unsigned char>p[n - 1])) & (NAME_SLOTS - 1)
    cdef object cached = _NAMES[slot]
    if cached is not None and PyBytes_GET_SIZE(cached) == n and memcmp(PyBytes_AS_STRING(cached), p, n) == 0:
        return cached
    cached = PyBytes_FromStringAndSize(p, n)
    _NAMES[slot] = cached
    return cached


def parse_requests(bytes data, Py_ssize_t max_bulk):
    """The commands of a read that holds only whole, canonical multibulk
    requests (what every client library sends, pipelined or not), as argv
    lists; None for anything else (a partial command, an inline command, an
    array of 1000+ arguments, `*0`, a bulk over max_bulk, a non-canonical
    header...), which then goes to RequestReader's own parsers from the
    same state. For the input it accepts the commands are those hiredis and
    the careful parser make of it, so this changes no reply; it saves the
    generic reply parser's callbacks and the per-argument type check."""
    return _parse(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), max_bulk)


cdef object _parse(const char* p, Py_ssize_t end, Py_ssize_t max_bulk):
    # parse_requests on bytes anywhere (on_readable's read buffer too).
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t argc, i, length
    cdef list commands = []
    cdef list argv
    cdef object arg
    if end == 0:
        return None
    while pos < end:
        if p[pos] != c'*':
            return None
        pos += 1
        argc = _header(p, &pos, end, 3)
        if argc <= 0:
            return None
        argv = PyList_New(argc)
        for i in range(argc):
            # (the list's unset items are NULL: fill them all or drop it)
            if pos >= end or p[pos] != c'$':
                _drop_tail(argv, i, argc)
                return None
            pos += 1
            length = _header(p, &pos, end, 10)
            if length < 0 or length > max_bulk or length + 2 > end - pos \
                    or p[pos + length] != c'\r' or p[pos + length + 1] != c'\n':
                _drop_tail(argv, i, argc)
                return None
            if i == 0 and 0 < length <= NAME_MAX:
                arg = _name(p + pos, length)
            else:
                arg = PyBytes_FromStringAndSize(p + pos, length)
            Py_INCREF(arg)
            PyList_SET_ITEM(argv, i, arg)
            pos += length + 2
        commands.append(argv)
    return commands


cdef void _drop_tail(list argv, Py_ssize_t filled, Py_ssize_t size):
    # Fill the unset items with None so the list can be freed safely.
    cdef Py_ssize_t i
    for i in range(filled, size):
        Py_INCREF(None)
        PyList_SET_ITEM(argv, i, None)


# -- typed handlers for the commonest commands ---------------------------------
#
# execute_batch calls these instead of the command's Python handler (named in
# each docstring: the source of truth), for the plain case only: everything
# the dispatcher does around a handler (statistics, SLOWLOG, tracking, the
# write stream, MONITOR, blocked clients) is done around these too. Each one
# covers the common case and returns PASS before it changes anything when
# the case is not common (a key with a TTL, an LFU policy, keyspace
# notifications or keymiss events on, a value of another type, an integer
# it does not read at once...): the Python handler runs then, from the same
# state. So a reply or a change differs from the pure path only if a line
# here differs from its twin, which tests/wire/test_accelerated.py checks.

from cpython cimport array
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem, PyDict_Contains
from cpython.object cimport PyObject

from .protocol.resp import OK


# Keyspace and KeyspaceStats keep their fields in __slots__: read and
# written here at the slot's offset (what the slot descriptor itself does,
# without the attribute lookup: ~150 instructions each through getattr, a
# GET reads about ten). Only for objects whose class is exactly the one the
# offsets were taken from (_typed checks the Keyspace), or for the stats a
# subclass with the same hits/misses descriptors (_stats_layout).

from cpython.ref cimport Py_XDECREF

from .storage.keyspace import Keyspace, KeyspaceStats

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


cdef Py_ssize_t _offset(type cls, str name) except -1:
    descr = cls.__dict__[name]
    if type(descr).__name__ != "member_descriptor":
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject*><PyObject*>descr).d_member.offset


cdef inline object _slot(object obj, Py_ssize_t offset):
    cdef PyObject* value = (<PyObject**>((<char*><PyObject*>obj) + offset))[0]
    if value == NULL:
        raise AttributeError("slot not set")
    return <object>value


cdef inline void _set_slot(object obj, Py_ssize_t offset, object value) noexcept:
    cdef PyObject** at = <PyObject**>((<char*><PyObject*>obj) + offset)
    cdef PyObject* old = at[0]
    Py_INCREF(value)
    at[0] = <PyObject*>value
    Py_XDECREF(old)


cdef inline int _add(object obj, Py_ssize_t offset, Py_ssize_t delta) except -1:
    # (the counters here, dirty and mem, stay far inside 63 bits; the
    # conversion raises OverflowError, never wraps, if one did not)
    if delta == 0:
        return 0
    cdef Py_ssize_t value = PyLong_AsSsize_t(_slot(obj, offset))
    if value == -1 and PyErr_Occurred():
        return -1
    # (FromLong, the same type on LP64: ~30 instructions fewer than FromSsize_t)
    _set_slot(obj, offset, PyLong_FromLong(value + delta))
    return 0


cdef object _stats_class = KeyspaceStats  # the last class found to have the layout


cdef inline bint _stats_layout(object cls) except -1:
    # KeyspaceStats or a subclass that keeps its hits/misses slots (the
    # server's ServerStats adds slots after them): the same descriptors.
    global _stats_class
    if cls is _stats_class:
        return True
    if (getattr(cls, "hits", None) is KeyspaceStats.__dict__["hits"]
            and getattr(cls, "misses", None) is KeyspaceStats.__dict__["misses"]):
        _stats_class = cls
        return True
    return False


cdef Py_ssize_t K_DATA = _offset(Keyspace, "data")
cdef Py_ssize_t K_EXPIRES = _offset(Keyspace, "expires")
cdef Py_ssize_t K_LFU = _offset(Keyspace, "lfu")
cdef Py_ssize_t K_NOTIFY = _offset(Keyspace, "notify_flags")
cdef Py_ssize_t K_KEYMISS = _offset(Keyspace, "on_keymiss")
cdef Py_ssize_t K_STATS = _offset(Keyspace, "stats")
cdef Py_ssize_t K_CELLS = _offset(Keyspace, "cells")
cdef Py_ssize_t K_MASK = _offset(Keyspace, "cells_mask")
cdef Py_ssize_t K_LRU_NOW = _offset(Keyspace, "lru_now")
cdef Py_ssize_t K_DIRTY = _offset(Keyspace, "dirty")
cdef Py_ssize_t K_MEM = _offset(Keyspace, "mem")
cdef Py_ssize_t K_WATCHERS = _offset(Keyspace, "watchers")
cdef Py_ssize_t K_RESIZED = _offset(Keyspace, "resized")
cdef Py_ssize_t K_BLOCKED = _offset(Keyspace, "blocked")
cdef Py_ssize_t S_HITS = _offset(KeyspaceStats, "hits")
cdef Py_ssize_t S_MISSES = _offset(KeyspaceStats, "misses")

cdef object PASS = object()  # "not the common case: run the Python handler"


cdef inline void _touch_lru(object db, object key) except *:
    # Keyspace's access record under an LRU policy (storage/access.py):
    # db.cells[hash(key) & db.cells_mask] = db.lru_now.
    cdef array.array cells = _slot(db, K_CELLS)
    cdef Py_ssize_t mask = _slot(db, K_MASK)
    cells.data.as_uints[hash(key) & mask] = <unsigned int>_slot(db, K_LRU_NOW)


cdef inline bint _has_ttl(dict expires, object key) except -1:
    return len(expires) != 0 and PyDict_Contains(expires, key)


cdef object _get(object db, list argv):
    """commands/strings.py get."""
    cdef object key = argv[1]
    cdef PyObject* found = _dict_get(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        if _slot(db, K_KEYMISS) is not None:
            return PASS
        _miss(db)
        return None
    cdef object value = <object>found
    if type(value) is not bytes or _slot(db, K_LFU) or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _hit(db)
    _touch_lru(db, key)
    return value


cdef object _set(object db, list argv):
    """commands/strings.py set_, without options."""
    if len(argv) != 3:
        return PASS
    if _slot(db, K_NOTIFY) or _slot(db, K_LFU):
        return PASS
    cdef object key = argv[1]
    cdef object value = argv[2]
    cdef dict data = _slot(db, K_DATA)
    cdef PyObject* found = _dict_get(data, key)
    cdef Py_ssize_t old_size, mem = 0
    if found != NULL and type(<object>found) is bytes and not _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        old_size = len(<bytes>found)
        data[key] = value
        _add(db, K_MEM, len(value) - old_size)
        _add(db, K_DIRTY, 1)
        if _slot(db, K_WATCHERS):
            db.touch(key)
        _touch_lru(db, key)
    elif found == NULL and _new_string(db, data, key, value, &mem):  # (section "strings: a new key")
        _add(db, K_MEM, mem)
        _add(db, K_DIRTY, 1)
    else:
        db.set(key, value)
    return OK


cdef inline bint _plain_integer(bytes text, long long* out) noexcept:
    # "0", or -?[1-9][0-9]{0,17}: what parse_int reads and what cannot
    # overflow 64 bits when one is added (anything else: the Python path).
    cdef const char* p = PyBytes_AS_STRING(text)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(text)
    cdef Py_ssize_t i = 0
    cdef bint negative = False
    cdef long long value = 0
    if n == 1 and p[0] == c'0':
        out[0] = 0
        return True
    if n > 0 and p[0] == c'-':
        negative = True
        i = 1
    if n - i < 1 or n - i > 18 or p[i] < c'1' or p[i] > c'9':
        return False
    while i < n:
        if p[i] < c'0' or p[i] > c'9':
            return False
        value = value * 10 + (p[i] - c'0')
        i += 1
    out[0] = -value if negative else value
    return True


cdef object _incr(object db, list argv):
    """commands/strings.py incr (_incr with delta 1)."""
    if _slot(db, K_NOTIFY) or _slot(db, K_LFU):
        return PASS
    cdef object key = argv[1]
    cdef dict data = _slot(db, K_DATA)
    cdef PyObject* found = _dict_get(data, key)
    cdef long long current = 0
    cdef Py_ssize_t mem = 0
    if found != NULL:
        if type(<object>found) is not bytes or _has_ttl(<dict>_slot(db, K_EXPIRES), key) \
                or not _plain_integer(<bytes>found, &current):
            return PASS
        _touch_lru(db, key)  # (db.lookup's access)
        current += 1
        db.replace(key, b"%d" % current)
    else:
        current = 1
        if _new_string(db, data, key, b"1", &mem):  # (section "strings: a new key")
            _add(db, K_MEM, mem)
            _add(db, K_DIRTY, 1)
        else:
            db.set(key, b"1")
    return current


cdef object _del(object db, list argv):
    """commands/keys.py del_."""
    if _slot(db, K_NOTIFY):
        return PASS
    cdef dict data = _slot(db, K_DATA)
    cdef Py_ssize_t i, deleted = 0
    cdef object delete = db.delete
    for i in range(1, len(argv)):
        # (a missing key: delete() would return False at once)
        if _dict_get(data, argv[i]) != NULL and delete(argv[i]):
            deleted += 1
    return deleted


cdef object _exists(object db, list argv):
    """commands/keys.py exists (Keyspace.peek_read per key)."""
    if _slot(db, K_KEYMISS) is not None:
        return PASS
    cdef dict data = _slot(db, K_DATA)
    cdef dict expires = _slot(db, K_EXPIRES)
    cdef Py_ssize_t i, found = 0, hits = 0, misses = 0
    cdef object key
    for i in range(1, len(argv)):
        key = argv[i]
        if _dict_get(data, key) == NULL:
            misses += 1
        elif _has_ttl(expires, key):
            if db.peek_read(key) is not None:  # (counts its own hit or miss)
                found += 1
        else:
            hits += 1
            found += 1
    _count(db, hits, misses)
    return found


cdef object _mget(object db, list argv):
    """commands/strings.py mget (Keyspace.lookup_read per key)."""
    if _slot(db, K_KEYMISS) is not None or _slot(db, K_LFU):
        return PASS
    cdef dict data = _slot(db, K_DATA)
    cdef dict expires = _slot(db, K_EXPIRES)
    cdef Py_ssize_t i, n = len(argv), hits = 0, misses = 0
    cdef list out = []
    cdef object key, value
    cdef PyObject* found
    for i in range(1, n):
        key = argv[i]
        found = _dict_get(data, key)
        if found == NULL:
            misses += 1
            out.append(None)
            continue
        if _has_ttl(expires, key):
            value = db.lookup_read(key)  # (counts its own hit or miss)
        else:
            value = <object>found
            hits += 1
            _touch_lru(db, key)
        out.append(value if value is None or type(value) is bytes else None)
    _count(db, hits, misses)
    return out


cdef object _mset(object db, list argv):
    """commands/strings.py mset (Keyspace.set per pair)."""
    cdef Py_ssize_t i, n = len(argv)
    cdef bint done
    if n % 2 == 0:
        return PASS
    if _slot(db, K_NOTIFY):
        return PASS
    if _slot(db, K_LFU):
        set_ = db.set
        for i in range(1, n, 2):
            set_(argv[i], argv[i + 1])
        return OK
    cdef Py_ssize_t mem = 0, changed = 0
    cdef dict data = _slot(db, K_DATA)
    cdef PyObject* found
    for i in range(1, n, 2):
        found = _dict_get(data, argv[i])
        if found == NULL:
            done = _new_string(db, data, argv[i], argv[i + 1], &mem)  # (section "strings: a new key")
        else:
            done = _overwrite_string(db, argv[i], found, argv[i + 1], &mem)  # (section "collections" below)
        if done:
            changed += 1
        else:
            db.set(argv[i], argv[i + 1])
    if changed:  # (mem and dirty only add up: once for the pairs done inline)
        _add(db, K_MEM, mem)
        _add(db, K_DIRTY, changed)
    return OK


cdef object _ttl(object db, list argv):
    """commands/keys.py ttl (_ttl: relative, in seconds)."""
    if _slot(db, K_KEYMISS) is not None or _slot(db, K_LFU):
        return PASS
    cdef object key = argv[1]
    if _dict_get(<dict>_slot(db, K_DATA), key) == NULL:
        _miss(db)
        return -2
    if _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _hit(db)
    _touch_lru(db, key)
    return -1



# -- lists, hashes, sets: the common case of an existing value ------------------

from collections import deque as _deque


cdef inline void _modified(object db, object key) except *:
    # Keyspace.modified for a container changed in place (its size is
    # re-estimated later: `resized`).
    _add(db, K_DIRTY, 1)
    if _slot(db, K_WATCHERS):
        db.touch(key)
    (<set>_slot(db, K_RESIZED)).add(key)
    blocked = _slot(db, K_BLOCKED)
    if blocked and key in blocked:
        db.on_ready(db, key)


cdef inline object _container(object db, object key, object kind, bint writing):
    # The value at key when it is of class `kind`, has no TTL and the
    # database is plain (no LFU; for writes no notifications, for reads no
    # keymiss events); else NULL-like None: the caller returns PASS.
    if _slot(db, K_LFU) or (_slot(db, K_NOTIFY) if writing else _slot(db, K_KEYMISS) is not None):
        return None
    cdef PyObject* found = _dict_get(<dict>_slot(db, K_DATA), key)
    if found == NULL or type(<object>found) is not kind or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return None
    return <object>found


cdef object _push(object db, list argv, bint left):
    """commands/lists.py lpush / rpush (_push) onto an existing list."""
    cdef object key = argv[1]
    cdef object dq = _container(db, key, _deque, True)
    if dq is None:
        return PASS
    _touch_lru(db, key)  # (db.lookup's access)
    if len(argv) == 3:  # (one element: no argv[2:] copy, no extend)
        if left:
            _dq_appendleft(dq, argv[2])
        else:
            _dq_append(dq, argv[2])
    elif left:
        dq.extendleft(argv[2:])
    else:
        dq.extend(argv[2:])
    _modified(db, key)
    return len(dq)


cdef object _pop(object db, list argv, bint left):
    """commands/lists.py lpop / rpop (_pop) without a count."""
    if len(argv) != 2:
        return PASS
    cdef object key = argv[1]
    cdef object dq = _container(db, key, _deque, True)
    if dq is None:
        return PASS
    _touch_lru(db, key)
    value = dq.popleft() if left else dq.pop()
    if len(dq):  # (_emptied)
        _modified(db, key)
    else:
        db.delete(key)
    return value


cdef object _read_hit(object db, object key, object kind):
    # Keyspace.lookup_read's hit for a value of class kind without a TTL:
    # the value, None for a miss (counted), PASS for anything else.
    if _slot(db, K_LFU) or _slot(db, K_KEYMISS) is not None:
        return PASS
    cdef PyObject* found = _dict_get(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        _miss(db)
        return None
    if type(<object>found) is not kind or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _hit(db)
    _touch_lru(db, key)
    return <object>found


cdef object _hget(object db, list argv):
    """commands/hashes.py hget, for a plain dict or a FieldTTLHash (_hash_hit)."""
    value = _hash_hit(db, argv[1])  # (a dict or FieldTTLHash: section "collections" below)
    if value is None or value is PASS:
        return value
    return (<dict>value).get(argv[2])


cdef object _hset(object db, list argv):
    """commands/hashes.py hset (_hset) into an existing plain dict that stays
    below PROMOTE_AT, or a FieldTTLHash without field TTLs (a hash promoted
    past it: _write purges nothing, no TTL to clear, _changed is
    db.modified)."""
    cdef Py_ssize_t i, n = len(argv), size
    if n % 2:
        return PASS
    cdef object key = argv[1]
    cdef object value = _hash_container(db, key)  # (section "collections" below)
    if value is None:
        return PASS
    size = len(<dict>value)
    if type(value) is dict and size + (n - 2) // 2 > _hashes.PROMOTE_AT:
        return PASS
    _touch_lru(db, key)
    for i in range(2, n, 2):
        (<dict>value)[argv[i]] = argv[i + 1]
    _modified(db, key)  # (_changed: no promotion)
    return len(<dict>value) - size


cdef object _sadd(object db, list argv):
    """commands/sets.py sadd into an existing set without a sampling pool."""
    cdef object key = argv[1]
    cdef object value = _container(db, key, set, True)
    if value is None:
        return PASS
    pools = _sets._POOLS
    if pools and id(value) in pools:
        return PASS
    _touch_lru(db, key)
    cdef Py_ssize_t size = len(<set>value)
    (<set>value).update(argv[2:])
    cdef Py_ssize_t added = len(<set>value) - size
    if added:
        _modified(db, key)
    return added


cdef object _sismember(object db, list argv):
    """commands/sets.py sismember."""
    value = _read_hit(db, argv[1], set)
    if value is PASS:
        return PASS
    return 1 if value is not None and argv[2] in <set>value else 0


from .commands import hashes as _hashes, keys as _keys, lists as _lists, sets as _sets, strings as _strings

# The Python handlers these stand for, tested by identity in execute_batch.
cdef object H_GET = _strings.get
cdef object H_SET = _strings.set_
cdef object H_INCR = _strings.incr
cdef object H_MGET = _strings.mget
cdef object H_MSET = _strings.mset
cdef object H_DEL = _keys.del_
cdef object H_EXISTS = _keys.exists
cdef object H_TTL = _keys.ttl
cdef object H_LPUSH = _lists.lpush
cdef object H_RPUSH = _lists.rpush
cdef object H_LPOP = _lists.lpop
cdef object H_RPOP = _lists.rpop
cdef object H_HSET = _hashes.hset
cdef object H_HGET = _hashes.hget
cdef object H_SADD = _sets.sadd
cdef object H_SISMEMBER = _sets.sismember
# (section "collections", below)
cdef object H_SPOP = _sets.spop
cdef object H_LRANGE = _lists.lrange
cdef object H_EXPIRE = _keys.expire
cdef object H_HGETALL = _hashes.hgetall


# -- sorted sets: ZADD, ZINCRBY, ZSCORE, ZPOPMIN/ZPOPMAX, ZRANGE by rank ---------
#
# The twins are in ringcache/commands/zsets.py; the value is
# ringcache/storage/zset.py's ZSet. A score is read here only when it is
# plainly a decimal or an infinity (what parse_score accepts and reads the
# same way: see _score_arg); anything else, an exponent included, goes to
# parse_score through PASS.

from cpython.float cimport PyFloat_FromDouble
from libc.math cimport INFINITY

from .storage.zset import ZSet

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow_exception) except? -1.0


cdef inline bint _score_arg(bytes arg, double* out) except -1:
    # commands/_args.py parse_score, for [+-]?(inf|digits[.digits]) with
    # at least one digit and at most 24 characters (case-insensitive inf).
    # No exponent and at most 24 characters: no overflow to inf and no
    # underflow to 0, the two cases parse_score refuses beyond float()'s.
    # Integers of up to 15 digits are exact as doubles; the rest is read by
    # PyOS_string_to_double, the correctly rounded reader float() uses.
    cdef const char* p = PyBytes_AS_STRING(arg)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(arg)
    cdef Py_ssize_t i = 0, digits = 0
    cdef bint negative = False, point = False
    cdef long long whole = 0
    cdef double value
    cdef char* end
    cdef char c
    if n == 0 or n > 24:
        return False
    if p[0] == c'-' or p[0] == c'+':
        negative = p[0] == c'-'
        i = 1
    if n - i == 3 and (p[i] | 32) == c'i' and (p[i + 1] | 32) == c'n' and (p[i + 2] | 32) == c'f':
        out[0] = -INFINITY if negative else INFINITY
        return True
    while i < n:
        c = p[i]
        if c'0' <= c <= c'9':
            digits += 1
            if digits <= 15 and not point:
                whole = whole * 10 + (c - c'0')
        elif c == c'.' and not point:
            point = True
        else:
            return False
        i += 1
    if digits == 0:
        return False
    if not point and digits <= 15:
        value = <double>whole
        out[0] = -value if negative else value  # ("-0" is -0.0, as float() reads it)
        return True
    value = PyOS_string_to_double(p, &end, NULL)
    if end != p + n:
        return False
    out[0] = value
    return True


# ZSet's hot internals, compiled (storage/zset.py: _insert with its block
# split and _rebuild, _locate, _remove, pop, _find + slice): the same lists,
# changed the same way, for the common case only. Each returns "not done"
# before it changes anything when the case is not common (an empty set, a
# block that would go under LOAD // 2, a score or member not of the exact
# types the set holds), and the caller then calls the ZSet method itself,
# from the same state. ZSet's
# fields are read at their slot offsets, as Keyspace's above; LOAD is read
# from the module at each call (tests shrink it).

from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.bytes cimport PyBytes_CheckExact
from cpython.dict cimport PyDict_DelItem
from cpython.list cimport PyList_GetSlice
from cpython.list cimport PyList_GET_SIZE as _list_size
from cpython.long cimport PyLong_FromLong
from libc.string cimport memcmp, memmove

from .storage import zset as _zset_module

cdef extern from *:
    """
    static inline PyObject** rc_list_items(PyObject* list) { return ((PyListObject*)list)->ob_item; }
    static inline void rc_list_set_size(PyObject* list, Py_ssize_t n) { Py_SET_SIZE(list, n); }
    static inline int rc_list_cut(PyObject* list, Py_ssize_t n) { return PyList_SetSlice(list, n, PY_SSIZE_T_MAX, NULL); }
    """
    PyObject** rc_list_items(object list)
    void rc_list_set_size(object list, Py_ssize_t n)
    int rc_list_cut(object list, Py_ssize_t n) except -1  # del list[n:]

cdef Py_ssize_t Z_DICT = _offset(ZSet, "dict")
cdef Py_ssize_t Z_SCORES = _offset(ZSet, "_scores")
cdef Py_ssize_t Z_MEMBERS = _offset(ZSet, "_members")
cdef Py_ssize_t Z_MAXES = _offset(ZSet, "_maxes")
cdef Py_ssize_t Z_TREE = _offset(ZSet, "_tree")
cdef dict _zset_globals = _zset_module.__dict__
cdef object _ZERO = 0.0


cdef inline Py_ssize_t _load() except -1:
    # (a module's dict has str keys only: a lookup cannot fail, as for bytes)
    cdef PyObject* load = _dict_get(_zset_globals, "LOAD")
    if load == NULL:
        raise AttributeError("ringcache.storage.zset.LOAD is missing")
    return PyLong_AsSsize_t(<object>load)


cdef inline Py_ssize_t _bisect_score(object block, Py_ssize_t lo, Py_ssize_t hi, double x,
                                     bint right) noexcept:
    # bisect_left (bisect_right if right) over a list of floats; -1 when an
    # item is not a float.
    cdef PyObject** items = rc_list_items(block)
    cdef Py_ssize_t mid
    cdef PyObject* item
    cdef double value
    while lo < hi:
        mid = (lo + hi) >> 1
        item = items[mid]
        if not PyFloat_CheckExact(<object>item):
            return -1
        value = PyFloat_AS_DOUBLE(<object>item)
        if value < x or (right and value == x):
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline int _bytes_cmp(PyObject* a, PyObject* b) noexcept:
    # (a > b) - (a < b) for two bytes objects, as bytes compare.
    cdef Py_ssize_t na = PyBytes_GET_SIZE(<object>a), nb = PyBytes_GET_SIZE(<object>b)
    cdef int c = memcmp(PyBytes_AS_STRING(<object>a), PyBytes_AS_STRING(<object>b), na if na < nb else nb)
    if c:
        return c
    return (na > nb) - (na < nb)


cdef inline Py_ssize_t _bisect_member(object block, Py_ssize_t lo, Py_ssize_t hi,
                                      object member) noexcept:
    # bisect_left over a list of bytes; -1 when an item is not bytes.
    cdef PyObject** items = rc_list_items(block)
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if not PyBytes_CheckExact(<object>items[mid]):
            return -1
        if _bytes_cmp(items[mid], <PyObject*>member) < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t _zblock(object zset, double x, object member) except -2:
    # The block of (x, member): ZSet._locate, the member search among blocks
    # that end on score x included; -1 when a score is not a float or a
    # member searched is not bytes.
    cdef list maxes = _slot(zset, Z_MAXES)
    cdef Py_ssize_t last = len(maxes) - 1
    cdef Py_ssize_t i = _bisect_score(maxes, 0, last + 1, x, False)
    cdef Py_ssize_t hi, mid
    cdef PyObject* block_last
    if i < 0:
        return -1
    if i >= last:
        return last
    if not PyFloat_CheckExact(maxes[i]):
        return -1
    if PyFloat_AS_DOUBLE(maxes[i]) != x:
        return i
    # Blocks i .. hi - 1 all end on this score: the member decides.
    hi = _bisect_score(maxes, i, last + 1, x, True)
    if hi < 0:
        return -1
    cdef list all_members = _slot(zset, Z_MEMBERS)
    while i < hi:
        mid = (i + hi) >> 1
        block = all_members[mid]
        block_last = rc_list_items(block)[_list_size(block) - 1]
        if not PyBytes_CheckExact(<object>block_last):
            return -1
        if _bytes_cmp(block_last, <PyObject*>member) < 0:
            i = mid + 1
        else:
            hi = mid
    return i if i < last else last


cdef inline void _list_insert(object block, Py_ssize_t pos, object item) except *:
    # block.insert(pos, item) with one memmove (see ZSet._insert's comment).
    cdef Py_ssize_t n = len(<list>block)
    block.append(item)  # (its reference moves to pos below)
    cdef PyObject** items = rc_list_items(block)
    memmove(items + pos + 1, items + pos, (n - pos) * sizeof(PyObject*))
    items[pos] = <PyObject*>item


cdef inline object _list_take(object block, Py_ssize_t pos):
    # block.pop(pos).
    cdef Py_ssize_t n = len(<list>block)
    cdef PyObject** items = rc_list_items(block)
    cdef object item = <object>items[pos]  # (a new reference...)
    Py_XDECREF(items[pos])                 # (...for the list's, which goes)
    memmove(items + pos, items + pos + 1, (n - pos - 1) * sizeof(PyObject*))
    rc_list_set_size(block, n - 1)
    return item


cdef inline void _tree_add(object zset, Py_ssize_t i, long delta) except *:
    cdef list tree = _slot(zset, Z_TREE)
    cdef Py_ssize_t k = i + 1, n = len(tree)
    while k < n:
        tree[k] = <long>tree[k] + delta
        k += k & -k


cdef int _zc_rebuild(object zset) except -1:
    """ZSet._rebuild: new _maxes and _tree lists from the blocks."""
    cdef list all_scores = _slot(zset, Z_SCORES)
    cdef list all_members = _slot(zset, Z_MEMBERS)
    cdef Py_ssize_t n = _list_size(all_members), k, parent
    cdef list maxes = []
    cdef list tree = []
    for block in all_scores:
        maxes.append((<list>block)[_list_size(block) - 1])
    cdef Py_ssize_t* sums = <Py_ssize_t*>PyMem_Malloc((n + 1) * sizeof(Py_ssize_t))
    if sums == NULL:
        raise MemoryError()
    try:
        sums[0] = 0
        for k in range(1, n + 1):
            sums[k] = _list_size(all_members[k - 1])
        for k in range(1, n + 1):
            parent = k + (k & -k)
            if parent <= n:
                sums[parent] += sums[k]
        for k in range(n + 1):
            tree.append(PyLong_FromLong(sums[k]))
    finally:
        PyMem_Free(sums)
    _set_slot(zset, Z_MAXES, maxes)
    _set_slot(zset, Z_TREE, tree)
    return 0


cdef bint _zc_insert(object zset, object member, object score) except -1:
    """ZSet._insert (score a float), its block split included: True if
    done, False if the caller must call ZSet._insert."""
    cdef list all_scores = _slot(zset, Z_SCORES)
    cdef double x = PyFloat_AS_DOUBLE(score)
    cdef Py_ssize_t i, n, lo, hi, pos, half
    cdef list all_members
    if not len(all_scores) or not PyBytes_CheckExact(member):
        return False
    i = _zblock(zset, x, member)
    if i < 0:
        return False
    all_members = _slot(zset, Z_MEMBERS)
    scores = all_scores[i]
    members = all_members[i]
    n = len(<list>scores)
    if n != len(<list>members):
        return False
    lo = _bisect_score(scores, 0, n, x, False)
    hi = _bisect_score(scores, lo, n, x, True)
    if lo < 0 or hi < 0:
        return False
    pos = lo
    if lo != hi:
        pos = _bisect_member(members, lo, hi, member)
        if pos < 0:
            return False
    if x == 0.0:
        score = _ZERO  # (-0 is stored as 0)
    PyDict_SetItem(<dict>_slot(zset, Z_DICT), member, score)
    _list_insert(scores, pos, score)
    _list_insert(members, pos, member)
    if n + 1 > 2 * _load():
        # The split: the upper half becomes block i + 1, and _maxes and the
        # tree are rebuilt (the indices of the blocks after i moved).
        half = (n + 1) >> 1
        all_scores.insert(i + 1, PyList_GetSlice(scores, half, n + 1))
        all_members.insert(i + 1, PyList_GetSlice(members, half, n + 1))
        rc_list_cut(scores, half)
        rc_list_cut(members, half)
        _zc_rebuild(zset)
        return True
    if pos == n:
        (<list>_slot(zset, Z_MAXES))[i] = score
    _tree_add(zset, i, 1)
    return True


cdef bint _zc_remove(object zset, object member, object score) except -1:
    """ZSet._remove (member is in the set with this score): True if done,
    False if the caller must call ZSet._remove."""
    cdef list all_members = _slot(zset, Z_MEMBERS)
    cdef Py_ssize_t i, n, lo, hi, pos, blocks = len(all_members)
    if not PyFloat_CheckExact(score) or not PyBytes_CheckExact(member):
        return False
    cdef double x = PyFloat_AS_DOUBLE(score)
    i = _zblock(zset, x, member)
    if i < 0:
        return False
    members = all_members[i]
    scores = (<list>_slot(zset, Z_SCORES))[i]
    n = len(<list>members)
    if n <= 1 or not (n - 1 >= _load() // 2 or blocks == 1):
        return False  # (a merge, or the last member)
    lo = _bisect_score(scores, 0, n, x, False)
    hi = _bisect_score(scores, lo, n, x, True)
    if lo < 0 or hi < 0:
        return False
    pos = _bisect_member(members, lo, hi, member)
    if pos < 0 or pos >= hi or rc_list_items(members)[pos] != <PyObject*>member \
            and _bytes_cmp(rc_list_items(members)[pos], <PyObject*>member) != 0:
        return False
    PyDict_DelItem(<dict>_slot(zset, Z_DICT), member)
    _list_take(members, pos)
    _list_take(scores, pos)
    _tree_add(zset, i, -1)
    if pos == n - 1:
        (<list>_slot(zset, Z_MAXES))[i] = (<list>scores)[n - 2]
    return True


cdef object _zc_pop(object zset, bint last):
    """ZSet.pop as the reply [member, score]; None if the caller must call
    ZSet.pop."""
    cdef list all_members = _slot(zset, Z_MEMBERS)
    cdef Py_ssize_t blocks = len(all_members)
    if not blocks:
        return None
    cdef Py_ssize_t i = blocks - 1 if last else 0
    members = all_members[i]
    scores = (<list>_slot(zset, Z_SCORES))[i]
    cdef Py_ssize_t n = len(<list>members)
    if n <= 1 or not (n - 1 >= _load() // 2 or blocks == 1):
        return None
    member = _list_take(members, n - 1 if last else 0)
    score = _list_take(scores, n - 1 if last else 0)
    PyDict_DelItem(<dict>_slot(zset, Z_DICT), member)
    _tree_add(zset, i, -1)
    if last:
        (<list>_slot(zset, Z_MAXES))[i] = (<list>scores)[n - 2]
    return [member, score]


cdef list _zc_slice(object zset, Py_ssize_t start, Py_ssize_t stop):
    """ZSet.slice(start, stop)[0] (0 <= start < stop <= len): the members."""
    cdef list tree = _slot(zset, Z_TREE)
    cdef list all_members = _slot(zset, Z_MEMBERS)
    cdef Py_ssize_t n = len(tree) - 1, k = 0, rank = start, step, nxt, size
    cdef Py_ssize_t left = stop - start, pos
    cdef list out
    if n > 1:  # (_find)
        step = 1
        while step * 2 <= n:
            step *= 2
        while step:
            nxt = k + step
            if nxt <= n:
                size = <Py_ssize_t>tree[nxt]
                if size <= rank:
                    k = nxt
                    rank -= size
            step >>= 1
    pos = rank
    block = all_members[k]
    if pos + left <= len(<list>block):
        return PyList_GetSlice(block, pos, pos + left)
    out = PyList_GetSlice(block, pos, len(<list>block))
    left -= len(<list>block) - pos
    while left > 0:
        k += 1
        block = all_members[k]
        out += PyList_GetSlice(block, 0, left if left < len(<list>block) else len(<list>block))
        left -= len(<list>block)
    return out


cdef object _zc_new(object member, object score):
    """ZSet() with one member (ZSet.add into an empty set)."""
    zset = ZSet.__new__(ZSet)
    if PyFloat_AS_DOUBLE(score) == 0.0:
        score = _ZERO
    _set_slot(zset, Z_DICT, {member: score})
    _set_slot(zset, Z_SCORES, [[score]])
    _set_slot(zset, Z_MEMBERS, [[member]])
    _set_slot(zset, Z_MAXES, [score])
    _set_slot(zset, Z_TREE, [0, 1])
    return zset


# For tests/unit/test_zset_compiled.py: the internals above against the
# pure ZSet, with their fallbacks, as the handlers below use them.

def zset_add(zset, member, score):
    """ZSet.add for a float score, through the compiled internals."""
    old = zset.dict.get(member)
    if old is None:
        if not _zc_insert(zset, member, score):
            zset._insert(member, score)
    elif old != score:
        if not _zc_remove(zset, member, old):
            zset._remove(member, old)
        if not _zc_insert(zset, member, score):
            zset._insert(member, score)
    return old


def zset_pop(zset, bint last):
    """ZSet.pop, through the compiled internals."""
    reply = _zc_pop(zset, last)
    if reply is None:
        return zset.pop(last)
    return tuple(reply)


def zset_members(zset, Py_ssize_t start, Py_ssize_t stop):
    """ZSet.slice(start, stop)[0] for 0 <= start < stop <= len."""
    return _zc_slice(zset, start, stop)


def zset_new(member, score):
    return _zc_new(member, score)



# Redis's double formatting (protocol/resp.py format_double), compiled for
# the whole numbers the common workloads score with; the rest goes to the
# Python function. The handlers return floats; execute_batch's reply
# encoder (_put_reply) formats them with this, per protocol.

from libc.math cimport floor, isinf, signbit
from libc.stdio cimport snprintf

from .protocol import resp as _resp

cdef double _LLONG_HALF = _resp._LLONG_HALF


cdef bytes _format_double(double value):
    """protocol/resp.py format_double."""
    cdef char buf[32]
    cdef int n
    if value != value:
        return b"nan"
    if isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if value == 0:
        return b"-0" if signbit(value) else b"0"
    if -_LLONG_HALF <= value <= _LLONG_HALF and value == floor(value):  # (== int(value))
        n = snprintf(buf, sizeof(buf), "%lld", <long long>value)
        return PyBytes_FromStringAndSize(buf, n)
    return _resp.format_double(value)


def format_double(double value):
    """protocol/resp.py format_double, compiled for whole numbers."""
    return _format_double(value)

cdef object _zset_write(object db, object key):
    # zsets.py _write's common case: the ZSet at key (no TTL, no LFU, no
    # notifications), None if the key is missing, PASS otherwise. Records
    # no access: the caller does, once it will not PASS.
    if _slot(db, K_LFU) or _slot(db, K_NOTIFY):
        return PASS
    cdef PyObject* found = _dict_get(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        return None
    if type(<object>found) is not ZSet or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    return <object>found


cdef inline void _zset_set(object zset, object member, object score, object old) except *:
    # ZSet.add's change when old (the member's score, or None) differs.
    if old is not None:
        if not _zc_remove(zset, member, old):
            zset._remove(member, old)
    if not _zc_insert(zset, member, score):
        zset._insert(member, score)


cdef object _zadd(object db, list argv):
    """commands/zsets.py zadd (_zadd_one): ZADD key score member."""
    cdef double score
    if len(argv) != 4 or not _score_arg(argv[2], &score):
        return PASS
    cdef object key = argv[1]
    cdef object zset = _zset_write(db, key)
    if zset is PASS:
        return PASS
    cdef object member = argv[3]
    cdef object value = PyFloat_FromDouble(score)
    if zset is None:
        db.set(key, _zc_new(member, value))
        return 1
    cdef PyObject* old = _dict_get(<dict>_slot(zset, Z_DICT), member)
    if old != NULL and not PyFloat_CheckExact(<object>old):
        return PASS
    _touch_lru(db, key)
    if old != NULL:
        if PyFloat_AS_DOUBLE(<object>old) == score:
            return 0  # (nothing changed: no notification, WATCH holds)
        _zset_set(zset, member, value, <object>old)
        _modified(db, key)
        return 0
    _zset_set(zset, member, value, None)
    _modified(db, key)
    return 1


cdef object _zincrby(object db, list argv):
    """commands/zsets.py zincrby (_zadd with INCR): ZINCRBY key increment member."""
    cdef double increment, sum_
    if not _score_arg(argv[2], &increment):
        return PASS
    cdef object key = argv[1]
    cdef object zset = _zset_write(db, key)
    if zset is PASS:
        return PASS
    cdef object member = argv[3]
    cdef object score
    if zset is None:
        score = PyFloat_FromDouble(increment)
        db.set(key, _zc_new(member, score))
        return score  # (the increment as read: "-0" answers -0, 0 is stored)
    cdef PyObject* current = _dict_get(<dict>_slot(zset, Z_DICT), member)
    if current == NULL:
        score = PyFloat_FromDouble(increment)
        _touch_lru(db, key)
        _zset_set(zset, member, score, None)
    else:
        if not PyFloat_CheckExact(<object>current):
            return PASS
        sum_ = PyFloat_AS_DOUBLE(<object>current) + increment
        if sum_ != sum_:
            return PASS  # (NaN: the Python path refuses it)
        _touch_lru(db, key)
        if sum_ == PyFloat_AS_DOUBLE(<object>current):
            return <object>current
        score = PyFloat_FromDouble(sum_)
        _zset_set(zset, member, score, <object>current)
    _modified(db, key)
    return score


cdef object _zscore(object db, list argv):
    """commands/zsets.py zscore."""
    zset = _read_hit(db, argv[1], ZSet)
    if zset is None or zset is PASS:
        return zset
    cdef PyObject* score = _dict_get(<dict>_slot(zset, Z_DICT), argv[2])
    return None if score == NULL else <object>score


cdef object _zpop(object db, list argv, bint last):
    """commands/zsets.py zpopmin / zpopmax (_zpop, _pop) without a count."""
    if len(argv) != 2:
        return PASS
    cdef object key = argv[1]
    cdef object zset = _zset_write(db, key)
    if zset is PASS:
        return PASS
    if zset is None:
        return []
    _touch_lru(db, key)
    reply = _zc_pop(zset, last)
    if reply is not None:
        _modified(db, key)  # (_zc_pop never takes the last member)
        return reply
    member, score = zset.pop(last)
    if len(<dict>_slot(zset, Z_DICT)):
        _modified(db, key)
    else:
        db.delete(key)  # (_emptied, without notifications)
    return [member, score]


cdef object _zrange(object db, list argv):
    """commands/zsets.py zrange (_zrange by rank) without options."""
    cdef long long first, last, size
    if len(argv) != 4 or not _plain_integer(argv[2], &first) or not _plain_integer(argv[3], &last):
        return PASS
    zset = _read_hit(db, argv[1], ZSet)
    if zset is None:
        return []
    if zset is PASS:
        return PASS
    size = len(<dict>_slot(zset, Z_DICT))
    if first < 0:
        first += size
    if last < 0:
        last += size
    if first < 0:
        first = 0
    if first > last or first >= size:
        return []
    if last > size - 1:
        last = size - 1
    return _zc_slice(zset, first, last + 1)


from .commands import zsets as _zsets

cdef object H_ZADD = _zsets.zadd
cdef object H_ZINCRBY = _zsets.zincrby
cdef object H_ZSCORE = _zsets.zscore
cdef object H_ZPOPMIN = _zsets.zpopmin
cdef object H_ZPOPMAX = _zsets.zpopmax
cdef object H_ZRANGE = _zsets.zrange


cdef inline object _typed(object handler, object db, list argv):
    # (execute_batch calls it only for a db whose class is Keyspace and whose
    # stats have KeyspaceStats' layout: the slot offsets are those of these classes)
    if handler is H_GET:
        return _get(db, argv)
    if handler is H_SET:
        return _set(db, argv)
    if handler is H_INCR:
        return _incr(db, argv)
    if handler is H_MGET:
        return _mget(db, argv)
    if handler is H_DEL:
        return _del(db, argv)
    if handler is H_EXISTS:
        return _exists(db, argv)
    if handler is H_MSET:
        return _mset(db, argv)
    if handler is H_TTL:
        return _ttl(db, argv)
    if handler is H_LPUSH:
        return _push(db, argv, True)
    if handler is H_RPUSH:
        return _push(db, argv, False)
    if handler is H_LPOP:
        return _pop(db, argv, True)
    if handler is H_RPOP:
        return _pop(db, argv, False)
    if handler is H_HSET:
        return _hset(db, argv)
    if handler is H_HGET:
        return _hget(db, argv)
    if handler is H_SADD:
        return _sadd(db, argv)
    if handler is H_SISMEMBER:
        return _sismember(db, argv)
    if handler is H_ZADD:
        return _zadd(db, argv)
    if handler is H_ZINCRBY:
        return _zincrby(db, argv)
    if handler is H_ZSCORE:
        return _zscore(db, argv)
    if handler is H_ZPOPMIN:
        return _zpop(db, argv, False)
    if handler is H_ZPOPMAX:
        return _zpop(db, argv, True)
    if handler is H_ZRANGE:
        return _zrange(db, argv)
    if handler is H_SPOP:
        return _spop(db, argv)
    if handler is H_LRANGE:
        return _lrange(db, argv)
    if handler is H_EXPIRE:
        return _expire(db, argv)
    if handler is H_HGETALL:
        return _hgetall(db, argv)
    return PASS


# -- collections: SPOP, LRANGE, EXPIRE, HGETALL, MSET's overwrite, big hashes ---
#
# Same rules as above. SPOP and EXPIRE also set session.propagate (their
# effect on the write stream), which a typed handler cannot reach: they run
# here only while db.on_expired is None, which pubsub/notifications.py's
# sync_databases guarantees whenever the write stream is inactive (it is
# set when the dispatcher propagates, and sync_databases runs each time
# that changes). With no stream nobody reads session.propagate, and the
# server clears it when a stream starts (Server._on_stream_active).

from cpython.dict cimport PyDict_Copy
from cpython.set cimport PySet_Contains, PySet_Discard
from cpython.list cimport PyList_GET_SIZE

from .storage.hashes import FieldTTLHash as _FieldTTLHash
from .storage.memory import EXPIRE_OVERHEAD as _EXPIRE_OVERHEAD

cdef Py_ssize_t K_ON_EXPIRED = _offset(Keyspace, "on_expired")
cdef Py_ssize_t K_CLOCK = _offset(Keyspace, "clock")
cdef Py_ssize_t K_EXPIRY_POOL = _offset(Keyspace, "expiry_pool")
cdef Py_ssize_t K_EXPIRY_OBJECTS = _offset(Keyspace, "expiry_objects")
cdef Py_ssize_t F_EXPIRES = _offset(_FieldTTLHash, "field_expires")
cdef Py_ssize_t F_TIMES = _offset(_FieldTTLHash, "_times")
cdef object _dq_append = _deque.append  # (method descriptors: no bound method per call)
cdef object _dq_appendleft = _deque.appendleft
cdef object _set_random = _sets._random
cdef object _random_choice = _sets.random.choice  # (sets.py's draws, from the same source)
cdef Py_ssize_t _SAMPLE_BY_COPY = _sets.SAMPLE_BY_COPY


cdef object _hash_hit(object db, object key):
    """_read_hit for a hash (commands/hashes.py _read): a dict, or a
    FieldTTLHash with no field time queued (its due() is False without a
    clock read)."""
    if _slot(db, K_LFU) or _slot(db, K_KEYMISS) is not None:
        return PASS
    cdef PyObject* found = _dict_get(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        _miss(db)
        return None
    cdef object kind = type(<object>found)
    if (kind is not dict and (kind is not _FieldTTLHash or _slot(<object>found, F_TIMES))) \
            or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _hit(db)
    _touch_lru(db, key)
    return <object>found


cdef object _hash_container(object db, object key):
    """_container for a hash written to (commands/hashes.py _write): a dict,
    or a FieldTTLHash without field TTLs (nothing to purge)."""
    if _slot(db, K_LFU) or _slot(db, K_NOTIFY):
        return None
    cdef PyObject* found = _dict_get(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        return None
    cdef object kind = type(<object>found)
    if (kind is not dict and (kind is not _FieldTTLHash or _slot(<object>found, F_EXPIRES))) \
            or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return None
    return <object>found


cdef object _hgetall(object db, list argv):
    """commands/hashes.py hgetall: a copy, a plain dict (the encoder makes
    it a map or a flat array)."""
    value = _hash_hit(db, argv[1])
    if value is PASS:
        return PASS
    if value is None:
        return {}
    return PyDict_Copy(value)  # (a plain dict, for a FieldTTLHash too: dict(value))


cdef object _spop(object db, list argv):
    """commands/sets.py spop without a count, no write stream (see above);
    a big set only when its sampling pool is in step (the first draw builds
    it in Python)."""
    if len(argv) != 2 or _slot(db, K_ON_EXPIRED) is not None:
        return PASS
    cdef object key = argv[1]
    cdef object value = _container(db, key, set, True)
    if value is None:
        return PASS
    cdef Py_ssize_t size = len(<set>value), i
    cdef object pool
    cdef list members
    cdef dict pools = _sets._POOLS
    if size <= _SAMPLE_BY_COPY:
        _touch_lru(db, key)
        member = _random_choice(tuple(<set>value))
        PySet_Discard(value, member)
        if pools and id(value) in pools:
            _sets._pool_removed(value, member)
    else:
        pool = pools.get(id(value))
        if pool is None:
            return PASS
        members = pool.members
        gone = pool.gone
        if PyList_GET_SIZE(members) - len(gone) != size:
            return PASS
        _touch_lru(db, key)
        while True:
            i = <Py_ssize_t>(<double>_set_random() * PyList_GET_SIZE(members))
            member = members[i]
            last = members.pop()
            if i < PyList_GET_SIZE(members):
                members[i] = last
            if PySet_Contains(value, member):
                break
            gone.discard(member)
        PySet_Discard(value, member)
    if len(<set>value):
        _modified(db, key)
    else:
        db.delete(key)
    return member


cdef object _lrange(object db, list argv):
    """commands/lists.py lrange (_range: from the nearer end)."""
    cdef long long start, stop
    if not _plain_integer(argv[2], &start) or not _plain_integer(argv[3], &stop):
        return PASS
    dq = _read_hit(db, argv[1], _deque)
    if dq is None:
        return []
    if dq is PASS:
        return PASS
    cdef long long size = len(dq)
    if start < 0:
        start = start + size if start + size > 0 else 0
    if stop < 0:
        stop += size
    if start > stop or start >= size:
        return []
    if stop > size - 1:
        stop = size - 1
    cdef Py_ssize_t count = stop - start + 1, skip, at = 0
    cdef list out = PyList_New(count)
    _drop_tail(out, 0, count)  # (None in every item until filled: safe to free)
    if start <= size - 1 - stop:
        skip = start
        for item in dq:
            if skip:
                skip -= 1
                continue
            out[at] = item
            at += 1
            if at == count:
                break
    else:
        skip = size - 1 - stop
        at = count
        for item in reversed(dq):
            if skip:
                skip -= 1
                continue
            at -= 1
            out[at] = item
            if at == 0:
                break
    return out


cdef object _expire(object db, list argv):
    """commands/keys.py expire (_expire: relative seconds) without NX/XX/GT/LT,
    on a live key, to a time in the future, no write stream (see above)."""
    if len(argv) != 3 or _slot(db, K_ON_EXPIRED) is not None or _slot(db, K_NOTIFY) \
            or _slot(db, K_LFU):
        return PASS
    cdef long long seconds, when
    if not _plain_integer(argv[2], &seconds) or seconds > 1000000000000 or seconds < -1000000000000:
        return PASS  # (far from INT64 bounds and exact as a double below)
    cdef object key = argv[1]
    cdef PyObject* found = _dict_get(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        return 0  # (db.lookup of a missing key: no side effect)
    cdef double now = _slot(db, K_CLOCK).ms()
    when = seconds * 1000 + <long long>now  # (int(now): now > 0)
    cdef dict expires = _slot(db, K_EXPIRES)
    if (_has_ttl(expires, key) and <double>expires[key] < now) or when <= now:
        return PASS  # (expired: lookup reclaims it; a past time deletes the key)
    _touch_lru(db, key)
    _set_expire(db, key, <object>found, when)
    return 1


cdef void _set_expire(object db, object key, object value, long long when) except *:
    """Keyspace.set_expire (with _expiry_object and modified) for the live
    key holding value."""
    cdef dict expires = _slot(db, K_EXPIRES)
    cdef list pool
    if not PyDict_Contains(expires, key):
        _add(db, K_MEM, _EXPIRE_OVERHEAD)
        pool = _slot(db, K_EXPIRY_POOL)
        pool.append(key)
        if len(pool) > 2 * len(expires) + 64:
            pool = list(expires)
            pool.append(key)
            _set_slot(db, K_EXPIRY_POOL, pool)
    cdef object at = float(when)
    cdef dict objects = _slot(db, K_EXPIRY_OBJECTS)
    at = objects.setdefault(at, at)
    if len(objects) > 64:
        objects.clear()
    expires[key] = at
    _add(db, K_DIRTY, 1)
    if _slot(db, K_WATCHERS):
        db.touch(key)
    if type(value) is not bytes:
        (<set>_slot(db, K_RESIZED)).add(key)
    blocked = _slot(db, K_BLOCKED)
    if blocked and key in blocked:
        db.on_ready(db, key)


cdef inline bint _overwrite_string(object db, object key, PyObject* found, object value,
                                   Py_ssize_t* mem) except -1:
    """Keyspace.set(key, value) under LRU (MSET's pairs) when key holds a
    string without a TTL (as _set does, with Keyspace.modified's
    blocked-client check), but the change of `mem` is added to *mem and
    the caller adds one to `dirty`; False (nothing done) for another key.
    `found`: the key's value in db.data, as the caller looked it up."""
    if found == NULL or type(<object>found) is not bytes or type(value) is not bytes \
            or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return False
    mem[0] += len(<bytes>value) - len(<bytes>found)
    PyDict_SetItem(<dict>_slot(db, K_DATA), key, value)  # (drops found)
    _touch_lru(db, key)
    _signal_string(db, key)  # (section "strings: a new key")
    return True


# -- the connection's per-request path ------------------------------------------
#
# At redis-benchmark -P 1 a request is one loop turn's worth of Python around
# execute_batch: Connection.on_readable (the read, the parser's state, the
# write's bookkeeping) and Connection.flush at the end of the turn, about
# 25,000 instructions of which execute_batch is 4,000
# (benchmarks/p1_instructions.py). These are their twins for the common case
# (a plain socket, whole commands, nothing queued or held, no output limits
# to check): the connection's and session's fields are read at their slot's
# offset (both classes declare those fields in __slots__), and the socket
# calls are made without releasing the GIL while the interpreter has no
# other thread (_alone): a non-blocking call on a ready socket does not
# wait, and releasing and taking the GIL back cost ~1,000 instructions a
# call. Anything else goes to the Python methods before this
# changed anything: Connection.received with the bytes read,
# Connection.write, Connection.flush.

cdef extern from "<sys/socket.h>":
    ssize_t _recv "recv"(int fd, void* buf, size_t n, int flags) nogil
    ssize_t _send "send"(int fd, const void* buf, size_t n, int flags) nogil

from libc.errno cimport errno, EAGAIN, EINTR

cdef extern from "Python.h":
    ctypedef struct PyInterpreterState:
        pass
    ctypedef struct PyThreadState:
        pass
    PyInterpreterState* PyInterpreterState_Get()
    PyThreadState* PyInterpreterState_ThreadHead(PyInterpreterState*)
    PyThreadState* PyThreadState_Next(PyThreadState*)


cdef inline bint _alone() noexcept:
    # The interpreter's only thread: nobody can be waiting for the GIL. With
    # other threads (cluster mode's control plane, the AOF fsync thread, a
    # replica's loader) the socket calls release it, as the socket module
    # does: holding it through them would make those threads wait for the
    # interpreter's switch interval (5 ms) instead of the next call.
    return PyThreadState_Next(PyInterpreterState_ThreadHead(PyInterpreterState_Get())) == NULL


cdef inline ssize_t _socket_io(bint sending, int fd, char* buf, size_t n, int* error) noexcept:
    # One recv or send on a non-blocking socket, the GIL released only when
    # another thread may want it (_alone); *error is errno after a failure.
    cdef ssize_t done
    if _alone():
        done = _send(fd, buf, n, 0) if sending else _recv(fd, buf, n, 0)
        if done < 0:
            error[0] = errno
    else:
        with nogil:
            done = _send(fd, buf, n, 0) if sending else _recv(fd, buf, n, 0)
            if done < 0:
                error[0] = errno
    return done


cdef inline bint _would_block(int error) noexcept:
    # (EINTR: the socket is still ready, the loop calls again)
    return error == EAGAIN or error == EWOULDBLOCK or error == EINTR

cdef extern from "<errno.h>":
    int EWOULDBLOCK  # (libc.errno lacks it; EAGAIN's value on Linux)
from cpython.long cimport PyLong_AsLong

cdef enum:
    IN_SIZE = 65536

cdef char _in[IN_SIZE]  # (the loop's thread only, with the GIL held throughout)
cdef Py_ssize_t _read_size = 0
cdef Py_ssize_t _high_water = 0
cdef object _Connection = None
cdef Py_ssize_t C_SERVER, C_FD, C_PENDING, C_OUT, C_OUT_SIZE, C_CLOSED, C_READING, C_SOFT_SINCE
cdef Py_ssize_t C_ON_DRAINED, C_SESSION, C_READER
cdef Py_ssize_t R_CAREFUL, R_CHUNKS, R_LAST_DATA, R_LIMITS
cdef Py_ssize_t SV_PAUSE_END, SV_DISPATCHER, SV_REPLIES_HELD, SV_TO_FLUSH, SV_FLUSH_BEFORE_POLL
cdef Py_ssize_t SV_OUTPUT_LIMITS, H_CALLBACK, H_ARGS, H_CANCELLED
cdef object _report = None


def bind_connection(connection, reader, Py_ssize_t read_size, Py_ssize_t high_water):
    """Take the slot offsets of Connection and RequestReader
    (server/connection.py calls this once) and return on_readable."""
    global _Connection, _read_size, _high_water
    global C_SERVER, C_FD, C_PENDING, C_OUT, C_OUT_SIZE, C_CLOSED, C_READING, C_SOFT_SINCE
    global C_ON_DRAINED, C_SESSION, C_READER, R_CAREFUL, R_CHUNKS, R_LAST_DATA, R_LIMITS
    if not 0 < read_size <= IN_SIZE:
        raise ValueError("read_size exceeds the compiled read buffer")
    C_SERVER = _offset(connection, "server")
    C_FD = _offset(connection, "fd")
    C_PENDING = _offset(connection, "pending")
    C_OUT = _offset(connection, "out_pending")
    C_OUT_SIZE = _offset(connection, "out_pending_size")
    C_CLOSED = _offset(connection, "closed")
    C_READING = _offset(connection, "reading")
    C_SOFT_SINCE = _offset(connection, "soft_limit_since")
    C_ON_DRAINED = _offset(connection, "on_drained")
    C_SESSION = _offset(connection, "session")
    C_READER = _offset(connection, "reader")
    R_CAREFUL = _offset(reader, "_careful")
    R_CHUNKS = _offset(reader, "_chunks")
    R_LAST_DATA = _offset(reader, "_last_data")
    R_LIMITS = _offset(reader, "limits")
    _read_size = read_size
    _high_water = high_water
    _Connection = connection
    return on_readable


def bind_server(server, handle, report):
    """Take the slot offsets of Server and asyncio's Handle, and the
    function that reports a callback's exception as Handle._run does
    (server/server.py calls this once; a Connection exists only for a
    Server, so before on_readable runs)."""
    global SV_PAUSE_END, SV_DISPATCHER, SV_REPLIES_HELD, SV_TO_FLUSH, SV_FLUSH_BEFORE_POLL
    global SV_OUTPUT_LIMITS, H_CALLBACK, H_ARGS, H_CANCELLED, _report
    H_CALLBACK = _offset(handle, "_callback")
    H_ARGS = _offset(handle, "_args")
    H_CANCELLED = _offset(handle, "_cancelled")
    _report = report
    SV_PAUSE_END = _offset(server, "pause_end")
    SV_DISPATCHER = _offset(server, "dispatcher")
    SV_REPLIES_HELD = _offset(server, "replies_held")
    SV_TO_FLUSH = _offset(server, "_to_flush")
    SV_FLUSH_BEFORE_POLL = _offset(server, "_flush_before_poll")
    SV_OUTPUT_LIMITS = _offset(server, "output_limits")


def on_readable(conn):
    """ringcache.server.connection.Connection.on_readable, compiled, for a
    Connection on a plain socket (see the section's header)."""
    cdef int error = 0
    cdef ssize_t n = _socket_io(False, <int>PyLong_AsLong(_slot(conn, C_FD)), _in, _read_size, &error)
    if n <= 0:
        if n < 0 and _would_block(error):
            return
        conn.close()  # the peer hung up, or the connection failed
        return
    session = _slot(conn, C_SESSION)
    reader = _slot(conn, C_READER)
    server = _slot(conn, C_SERVER)
    cdef object commands = None
    if _in[0] == c'*' and _slot(session, SS_BLOCKED) is None \
            and _slot(session, SS_AUTHENTICATED) is True and _slot(reader, R_CAREFUL) is None \
            and _slot(reader, R_LAST_DATA) is None and not PyList_GET_SIZE(_slot(reader, R_CHUNKS)) \
            and not _any(_slot(conn, C_PENDING)) and not _slot(server, SV_PAUSE_END):
        # (RequestReader.feed's compiled case: on a command boundary)
        commands = _parse(_in, n, _slot(reader, R_LIMITS).proto_max_bulk_len)
    if commands is None:
        conn.received(PyBytes_FromStringAndSize(_in, n))
        return
    _set_slot(session, SS_LAST_INTERACTION, PyFloat_FromDouble(_clock()))
    dispatcher = _slot(server, SV_DISPATCHER)
    if _slot(dispatcher, D_CLUSTER) is None:  # (cluster mode shadows execute_batch)
        replies, done = _execute_batch(dispatcher, session, commands, _high_water)
    else:
        replies, done = dispatcher.execute_batch(session, commands, _high_water)
    if PyBytes_GET_SIZE(replies):
        out = _slot(conn, C_OUT)
        if _any(out) or _slot(conn, C_CLOSED) is not False or _slot(session, SS_SUBSCRIPTIONS) \
                or _slot(session, SS_IS_REPLICA) is not False or _slot(server, SV_REPLIES_HELD) \
                or not _slot(server, SV_FLUSH_BEFORE_POLL) or _slot(server, SV_OUTPUT_LIMITS) is not None:
            conn.write(replies)
        else:
            # Connection.write: the first output of this turn, to go out at its end
            (<list>_slot(server, SV_TO_FLUSH)).append(conn)
            (<object>out).append(replies)
            size = _slot(conn, C_OUT_SIZE) + PyBytes_GET_SIZE(replies)
            _set_slot(conn, C_OUT_SIZE, size)
            if size > _high_water:
                conn._pause_reading()
    if _slot(session, SS_CLOSING) is not False or _slot(session, SS_BLOCKED) is not None \
            or done < PyList_GET_SIZE(commands):
        conn.after_batch(commands, done)


def flush_replies(server):
    """ringcache.server.server.Server.flush_replies, compiled: each plain
    Connection with one chunk queued is flushed here (Connection.flush's
    common case), any other by its own flush()."""
    cdef list connections
    while PyList_GET_SIZE(_slot(server, SV_TO_FLUSH)):
        connections = _slot(server, SV_TO_FLUSH)
        _set_slot(server, SV_TO_FLUSH, [])
        for conn in connections:
            if type(conn) is not _Connection or not _flush(server, conn):
                conn.flush()


cdef bint _flush(object server, object conn) except -1:
    # Connection.flush for one bytes chunk queued; False (nothing done) for
    # anything else.
    out = _slot(conn, C_OUT)
    if _slot(conn, C_CLOSED) is not False or Py_SIZE(out) != 1:
        return Py_SIZE(out) == 0  # (closed or nothing queued: flush() would do nothing)
    chunk = out[0]
    if type(chunk) is not bytes or _slot(server, SV_REPLIES_HELD):
        return False
    cdef Py_ssize_t size = PyBytes_GET_SIZE(chunk)
    cdef int error = 0
    cdef ssize_t sent = _socket_io(True, <int>PyLong_AsLong(_slot(conn, C_FD)),
                                   PyBytes_AS_STRING(chunk), size, &error)
    if sent < 0:
        if not _would_block(error):
            return False  # (flush() sends again and meets the error itself)
        sent = 0
    out.clear()
    if sent == size:
        _set_slot(conn, C_OUT_SIZE, 0)
        if _slot(conn, C_READING) is True and _slot(conn, C_ON_DRAINED) is None \
                and not _any(_slot(conn, C_PENDING)) \
                and _slot(_slot(conn, C_SESSION), SS_CLOSING) is False:
            _set_slot(conn, C_SOFT_SINCE, _ZERO)
        else:
            conn._drained()
        return True
    out.append(memoryview(chunk)[sent:])
    _set_slot(conn, C_OUT_SIZE, size - sent)
    conn.loop.add_writer(_slot(conn, C_FD), conn.on_writable)
    return True


# The loop's step for each ready descriptor (server/server.py: FlushingSelector
# .select and NodeEventLoop._process_events, whose twins these are). At -P 1
# each request is one ready descriptor: the stdlib turns its event into a
# (key, events) pair, queues its handle in the loop's ready queue, pops it and
# runs it in its context (Handle._run), ~2,500 instructions of Python. Here a
# plain connection's reader (the compiled on_readable) runs at once, when
# nothing was queued before this poll's events, so the order in which the
# queued callbacks run stays the stdlib's (this poll's handles ran first
# anyway); any other handle is queued as before. The node uses no context
# variables, so running outside the handle's context changes nothing.

cdef extern from "<sys/epoll.h>":
    int EPOLLIN
    int EPOLLOUT

cdef enum:
    EVENT_READ = 1  # selectors.EVENT_READ, EVENT_WRITE (bind_server checks)
    EVENT_WRITE = 2


def ready_events(list fd_event_list, dict fd_to_key):
    """FlushingSelector.select's conversion of epoll's (fd, event) pairs
    into (key, events) pairs, compiled."""
    cdef list ready = []
    cdef PyObject* found
    cdef long event, events
    for item in fd_event_list:
        found = _dict_get(fd_to_key, (<tuple>item)[0])
        if found == NULL:
            continue
        key = <object>found
        event = (<tuple>item)[1]
        events = 0
        if event & ~EPOLLIN:
            events |= EVENT_WRITE
        if event & ~EPOLLOUT:
            events |= EVENT_READ
        ready.append((key, events & <long>(<tuple>key)[2]))
    return ready


def process_events(loop, list event_list):
    """NodeEventLoop._process_events, compiled (see above)."""
    ready = loop._ready
    cdef bint direct = not _any(ready) and not loop._debug
    cdef long mask
    for item in event_list:
        key = (<tuple>item)[0]
        mask = (<tuple>item)[1]
        data = (<tuple>key)[3]
        reader = (<tuple>data)[0]
        writer = (<tuple>data)[1]
        if mask & EVENT_READ and reader is not None:
            if _slot(reader, H_CANCELLED) is not False:
                loop._remove_reader((<tuple>key)[0])
            elif direct and _slot(reader, H_CALLBACK) is on_readable:
                try:
                    on_readable((<tuple>_slot(reader, H_ARGS))[0])
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    _report(reader, exc)
            else:
                ready.append(reader)
        if mask & EVENT_WRITE and writer is not None:
            if _slot(writer, H_CANCELLED) is not False:
                loop._remove_writer((<tuple>key)[0])
            else:
                ready.append(writer)

# -- strings: storing a new key (SET, MSET, INCR of a missing key) --------------
#
# Keyspace.set's new-key branch (storage/keyspace.py), compiled, for a bytes
# value under an LRU policy with no "new" key-event hook: the value stored,
# the key added to its slot's bucket (storage/slots.py, SlotIndex.add),
# memory counted, the access cell recorded (_record_new under LRU: one
# store, after the cells grew for the new key), then Keyspace.modified (the
# WATCHes, a blocked client woken). Redis-benchmark's SET and MSET after a
# FLUSHALL create most of their keys here. Anything else (an LFU policy,
# notifications, a key or value not of class bytes, a SlotIndex subclass,
# a bucket that would turn into a set) is left to the Python methods.

cdef extern from "Python.h":
    Py_ssize_t _dict_size "PyDict_GET_SIZE"(object)

from .storage.keyspace import KEY_COST as _KEY_COST, STRING_COST as _STRING_COST
from .storage.slots import LIST_MAX as _LIST_MAX, SlotIndex as _SlotIndex

cdef Py_ssize_t NEW_STRING_COST = _STRING_COST + _KEY_COST  # (+ the value's and key's lengths)
cdef Py_ssize_t SL_LIST_MAX = _LIST_MAX

cdef Py_ssize_t K_SLOTS = _offset(Keyspace, "slots")
cdef Py_ssize_t K_ON_NEW = _offset(Keyspace, "on_new")
cdef Py_ssize_t K_CELLS_LIMIT = _offset(Keyspace, "cells_limit")
cdef Py_ssize_t SL_BUCKETS = _offset(_SlotIndex, "buckets")
cdef Py_ssize_t SL_OCCUPIED = _offset(_SlotIndex, "occupied")
cdef Py_ssize_t SL_NONEMPTY = _offset(_SlotIndex, "nonempty")
cdef Py_ssize_t SL_NONEMPTY_AT = _offset(_SlotIndex, "nonempty_at")


cdef int _index_key(object index, bytes key) except -1:
    """SlotIndex.add(key): the first key of its slot, or one more in a
    bucket list that stays within LIST_MAX; else the method itself."""
    if type(index) is not _SlotIndex:
        index.add(key)
        return 0
    cdef unsigned int slot = _key_slot(key)
    cdef list buckets = _slot(index, SL_BUCKETS)
    cdef object bucket = buckets[slot]
    cdef array.array nonempty
    cdef Py_ssize_t n
    if bucket is None:
        buckets[slot] = [key]
        (<bytearray>_slot(index, SL_OCCUPIED))[slot] = 1
        nonempty = _slot(index, SL_NONEMPTY)
        n = Py_SIZE(nonempty)
        (<array.array>_slot(index, SL_NONEMPTY_AT)).data.as_ushorts[slot] = <unsigned short>n
        array.resize_smart(nonempty, n + 1)  # (nonempty.append(slot), without the method call)
        nonempty.data.as_ushorts[n] = <unsigned short>slot
    elif type(bucket) is list and PyList_GET_SIZE(bucket) < SL_LIST_MAX:
        (<list>bucket).append(key)
    else:
        index.add(key)
    return 0


cdef bint _new_string(object db, dict data, object key, object value, Py_ssize_t* mem) except -1:
    """Keyspace.set(key, value) for a key not in data (the caller looked),
    a bytes value, under LRU with no on_new hook: as _overwrite_string, the
    change of `mem` is added to *mem and the caller adds one to `dirty`;
    False (nothing done) when the case is another."""
    if type(key) is not bytes or type(value) is not bytes or _slot(db, K_LFU) \
            or _slot(db, K_ON_NEW) is not None:
        return False
    PyDict_SetItem(data, key, value)
    _index_key(_slot(db, K_SLOTS), <bytes>key)
    mem[0] += NEW_STRING_COST + PyBytes_GET_SIZE(value) + PyBytes_GET_SIZE(key)
    if len(data) > <Py_ssize_t>_slot(db, K_CELLS_LIMIT):
        db._grow_cells()  # (doubles the cells: a few times in a database's life)
    _touch_lru(db, key)
    _signal_string(db, key)  # (section "strings: a new key")
    return True


cdef inline int _signal_string(object db, object key) except -1:
    """Keyspace.modified(key) for a string, less the `dirty` count the
    caller adds: the WATCHes failed, a client blocked on the key woken.
    (Both dicts are empty unless somebody watches or waits: a size test.)"""
    if _dict_size(_slot(db, K_WATCHERS)):
        db.touch(key)
    cdef dict blocked = _slot(db, K_BLOCKED)
    if _dict_size(blocked) and PyDict_Contains(blocked, key):
        db.on_ready(db, key)
    return 0
