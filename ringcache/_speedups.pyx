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

from cpython.bytes cimport PyBytes_Check
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from .commands._blocking import BlockOn
from .protocol.resp import BULK_HEADERS, INT_REPLIES, Raw


cdef inline double _clock() noexcept nogil:
    # time.perf_counter() on Linux, without the Python call.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


def execute_batch(self, session, list commands, reply_budget=1 << 62):
    """ringcache.server.dispatch.Dispatcher.execute_batch, compiled."""
    cdef list out = []
    cdef dict table = self.table
    cdef object monitors = self.monitors
    cdef bint tracking = self.tracking_active
    cdef bint propagating = self.propagating
    cdef bint maxmemory = self.maxmemory
    cdef double threshold = self.slowlog_threshold
    cdef double previous = _clock()
    cdef double now, elapsed
    cdef Py_ssize_t size_out = 0
    cdef Py_ssize_t done = 0
    cdef Py_ssize_t size, first, i, argc, arity
    cdef bint plain
    cdef object ready = self.server.blocking.ready
    cdef object budget = reply_budget
    cdef object spec, db, dirty_before, reply, klass
    for argv in commands:
        done += 1
        spec = table.get(argv[0])
        plain = spec is not None and not spec.subcommands and not session.gated
        if plain:
            arity = spec.arity
            argc = len(argv)
            plain = (argc == arity) if arity > 0 else (argc >= -arity)
        if plain and maxmemory:
            plain = not self._memory_pressed()
        if not plain:
            reply = self._execute(session, argv)
            previous = _clock()
            tracking = self.tracking_active
            propagating = self.propagating
            maxmemory = self.maxmemory
        else:
            db = session.db
            if type(db) is Keyspace:
                dirty_before = _slot(db, K_DIRTY)
            else:
                dirty_before = db.dirty
            try:
                reply = _typed(spec.handler, db, argv)
                if reply is PASS:
                    reply = spec.handler(session, argv)
            except Exception as exc:
                reply = self._failed(spec, exc)
            now = _clock()
            elapsed = now - previous
            previous = now
            spec.calls += 1
            spec.time_s += elapsed
            if elapsed > threshold:
                self._slowlog_add(session, spec, argv, elapsed)
            if tracking:
                self.server.tracking.after_command(session, spec, argv, db.dirty != dirty_before)
            if propagating:
                self.propagate(session, spec, argv, db, dirty_before)
            if monitors:
                self.server.feed_monitors(session, argv, spec)
            session.last_command = argv[0]
        klass = type(reply)
        if klass is bytes:
            size = len(<bytes>reply)
            if size < 1024:
                out.append((<list>BULK_HEADERS)[size])
                out.append(reply)
                out.append(b"\r\n")
            else:
                out.append(b"$%d\r\n%b\r\n" % (size, reply))
                size_out += size
        elif klass is int:
            if 0 <= reply < 1024:
                out.append((<list>INT_REPLIES)[<Py_ssize_t>reply])
            else:
                out.append(b":%d\r\n" % reply)
        elif klass is Raw:
            out.append(reply)
        elif reply is None:
            out.append(session.null)
        elif klass is BlockOn:
            self.server.blocking.block(session, argv, reply)
            break
        else:
            first = len(out)
            session.encode(out, reply)
            for i in range(first, len(out)):
                size_out += len(out[i])
        if ready:
            self.server.blocking.serve()
        if session.closing or size_out > budget:
            break
    if self.propagating:
        self.stream.flush()
    return b"".join(out), done


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
from libc.string cimport memchr


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


def slots_add_many(self, list keys):
    """ringcache.storage.slots.SlotIndex.add_many, compiled."""
    cdef list buckets = self.buckets
    cdef const unsigned char* p
    cdef const unsigned char* open_
    cdef const unsigned char* close
    cdef Py_ssize_t n, start
    cdef unsigned int slot
    cdef object bucket
    for key in keys:
        p = <const unsigned char*>PyBytes_AS_STRING(key)
        n = PyBytes_GET_SIZE(key)
        open_ = <const unsigned char*>memchr(p, ord("{"), n)
        if open_ != NULL:
            start = open_ - p
            close = <const unsigned char*>memchr(open_ + 1, ord("}"), n - start - 1)
            if close != NULL and close - open_ > 1:
                slot = _crc16(open_ + 1, close - open_ - 1) & 16383
            else:
                slot = _crc16(p, n) & 16383
        else:
            slot = _crc16(p, n) & 16383
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


def parse_requests(bytes data, Py_ssize_t max_bulk):
    """The commands of a read that holds only whole, canonical multibulk
    requests (what every client library sends, pipelined or not), as argv
    lists; None for anything else (a partial command, an inline command, an
    array of 1000+ arguments, `*0`, a bulk over max_bulk, a non-canonical
    header...), which then goes to RequestReader's own parsers from the
    same state. For the input it accepts the commands are those hiredis and
    the careful parser make of it, so this changes no reply; it saves the
    generic reply parser's callbacks and the per-argument type check."""
    cdef const char* p = PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(data)
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


cdef inline int _add(object obj, Py_ssize_t offset, object delta) except -1:
    _set_slot(obj, offset, _slot(obj, offset) + delta)
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
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        if _slot(db, K_KEYMISS) is not None:
            return PASS
        _add(_slot(db, K_STATS), S_MISSES, 1)
        return None
    cdef object value = <object>found
    if type(value) is not bytes or _slot(db, K_LFU) or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _add(_slot(db, K_STATS), S_HITS, 1)
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
    cdef PyObject* found = PyDict_GetItem(data, key)
    cdef Py_ssize_t old_size
    if found != NULL and type(<object>found) is bytes and not _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        old_size = len(<bytes>found)
        data[key] = value
        _add(db, K_MEM, len(value) - old_size)
        _add(db, K_DIRTY, 1)
        if _slot(db, K_WATCHERS):
            db.touch(key)
        _touch_lru(db, key)
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
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
    cdef long long current = 0
    if found != NULL:
        if type(<object>found) is not bytes or _has_ttl(<dict>_slot(db, K_EXPIRES), key) \
                or not _plain_integer(<bytes>found, &current):
            return PASS
        _touch_lru(db, key)  # (db.lookup's access)
        current += 1
        db.replace(key, b"%d" % current)
    else:
        current = 1
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
        if PyDict_GetItem(data, argv[i]) != NULL and delete(argv[i]):
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
        if PyDict_GetItem(data, key) == NULL:
            misses += 1
        elif _has_ttl(expires, key):
            if db.peek_read(key) is not None:  # (counts its own hit or miss)
                found += 1
        else:
            hits += 1
            found += 1
    stats = _slot(db, K_STATS)
    if hits:
        _add(stats, S_HITS, hits)
    if misses:
        _add(stats, S_MISSES, misses)
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
        found = PyDict_GetItem(data, key)
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
    stats = _slot(db, K_STATS)
    if hits:
        _add(stats, S_HITS, hits)
    if misses:
        _add(stats, S_MISSES, misses)
    return out


cdef object _mset(object db, list argv):
    """commands/strings.py mset (Keyspace.set per pair)."""
    cdef Py_ssize_t i, n = len(argv)
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
    for i in range(1, n, 2):
        if _overwrite_string(db, argv[i], argv[i + 1], &mem):  # (section "collections" below)
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
    if PyDict_GetItem(<dict>_slot(db, K_DATA), key) == NULL:
        _add(_slot(db, K_STATS), S_MISSES, 1)
        return -2
    if _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _add(_slot(db, K_STATS), S_HITS, 1)
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
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
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
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        _add(_slot(db, K_STATS), S_MISSES, 1)
        return None
    if type(<object>found) is not kind or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _add(_slot(db, K_STATS), S_HITS, 1)
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


cdef inline object _typed(object handler, object db, list argv):
    if type(db) is not Keyspace or not _stats_layout(type(_slot(db, K_STATS))):
        return PASS  # (the slot offsets are those of these classes)
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
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
    if found == NULL:
        _add(_slot(db, K_STATS), S_MISSES, 1)
        return None
    cdef object kind = type(<object>found)
    if (kind is not dict and (kind is not _FieldTTLHash or _slot(<object>found, F_TIMES))) \
            or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return PASS
    _add(_slot(db, K_STATS), S_HITS, 1)
    _touch_lru(db, key)
    return <object>found


cdef object _hash_container(object db, object key):
    """_container for a hash written to (commands/hashes.py _write): a dict,
    or a FieldTTLHash without field TTLs (nothing to purge)."""
    if _slot(db, K_LFU) or _slot(db, K_NOTIFY):
        return None
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
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
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
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


cdef inline bint _overwrite_string(object db, object key, object value, Py_ssize_t* mem) except -1:
    """Keyspace.set(key, value) under LRU (MSET's pairs) when key holds a
    string without a TTL (as _set does, with Keyspace.modified's
    blocked-client check), but the change of `mem` is added to *mem and
    the caller adds one to `dirty`; False (nothing done) for another key."""
    cdef PyObject* found = PyDict_GetItem(<dict>_slot(db, K_DATA), key)
    if found == NULL or type(<object>found) is not bytes or type(value) is not bytes \
            or _has_ttl(<dict>_slot(db, K_EXPIRES), key):
        return False
    mem[0] += len(<bytes>value) - len(<bytes>found)
    PyDict_SetItem(<dict>_slot(db, K_DATA), key, value)  # (drops found)
    _touch_lru(db, key)
    if _slot(db, K_WATCHERS):
        db.touch(key)
    blocked = _slot(db, K_BLOCKED)
    if blocked and key in blocked:
        db.on_ready(db, key)
    return True
