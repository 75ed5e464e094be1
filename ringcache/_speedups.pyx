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
    cdef object table = self.table
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
            dirty_before = db.dirty
            try:
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
