# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled twins of the replication stream's wire form
(ringcache/replication/stream.py: encode_unit and parse; that module picks
these when they import and RINGCACHE_PURE is not set).

The pure functions are the source of truth and carry the comments; these are
line-by-line transcriptions with C types. A separate extension from
ringcache/_speedups.pyx (the dispatcher's hot path) so that each has one
owner; setup.py builds both the same optional way.
tests/unit/test_replication_units.py compares both on the same inputs,
split at every byte.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from libc.string cimport memcpy

cdef Py_ssize_t MAX_ARGS = 1 << 20
cdef Py_ssize_t MAX_BULK = 1 << 29


cdef inline Py_ssize_t _digits(Py_ssize_t n) noexcept:
    cdef Py_ssize_t d = 1
    while n >= 10:
        n //= 10
        d += 1
    return d


cdef inline char* _put_number(char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t d = _digits(n)
    cdef Py_ssize_t i = d - 1
    while i >= 0:
        p[i] = <char>(48 + n % 10)
        n //= 10
        i -= 1
    return p + d


def encode_unit(list unit):
    """ringcache.replication.stream.encode_unit, compiled: one bytes object
    for a unit's argvs, sized first and written once."""
    cdef Py_ssize_t total = 0
    cdef Py_ssize_t argc, n
    cdef list argv
    cdef object arg
    for argv in unit:
        argc = len(argv)
        total += 3 + _digits(argc)
        for arg in argv:
            n = PyBytes_GET_SIZE(<bytes>arg)
            total += 5 + _digits(n) + n
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef char* p = PyBytes_AS_STRING(out)
    for argv in unit:
        p[0] = b'*'
        p = _put_number(p + 1, len(argv))
        p[0] = b'\r'
        p[1] = b'\n'
        p += 2
        for arg in argv:
            n = PyBytes_GET_SIZE(<bytes>arg)
            p[0] = b'$'
            p = _put_number(p + 1, n)
            p[0] = b'\r'
            p[1] = b'\n'
            p += 2
            memcpy(p, PyBytes_AS_STRING(<bytes>arg), n)
            p += n
            p[0] = b'\r'
            p[1] = b'\n'
            p += 2
    return out


cdef inline Py_ssize_t _find_crlf(const char* s, Py_ssize_t start, Py_ssize_t end) noexcept:
    cdef Py_ssize_t i = start
    while i + 1 < end:
        if s[i] == b'\r' and s[i + 1] == b'\n':
            return i
        i += 1
    return -1


cdef inline Py_ssize_t _number(const char* s, Py_ssize_t start, Py_ssize_t end) noexcept:
    """A non-negative decimal in s[start:end] (what int() accepts of the
    canonical form a primary writes: optional sign, digits), -2 if not a
    number, -1 if negative."""
    cdef Py_ssize_t value = 0
    cdef bint negative = False
    cdef Py_ssize_t i = start
    if i < end and (s[i] == b'-' or s[i] == b'+'):
        negative = s[i] == b'-'
        i += 1
    if i >= end or end - i > 18:
        return -2
    while i < end:
        if s[i] < b'0' or s[i] > b'9':
            return -2
        value = value * 10 + (s[i] - 48)
        i += 1
    return -1 if negative and value else value


cdef inline bint _is_special(bytes name) noexcept:
    # PING and REPLCONF (any case): counted in the offset, not executed.
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
    cdef const char* s = PyBytes_AS_STRING(name)
    cdef const char* word
    cdef Py_ssize_t i
    if n == 4:
        word = b"ping"
    elif n == 8:
        word = b"replconf"
    else:
        return False
    for i in range(n):
        if (s[i] | 0x20) != word[i]:
            return False
    return True


def parse(bytearray buf, Py_ssize_t pos, list argvs, list ends, list specials):
    """ringcache.replication.stream.parse, compiled."""
    cdef Py_ssize_t size = PyByteArray_GET_SIZE(buf)
    cdef const char* s = PyByteArray_AS_STRING(buf)
    cdef Py_ssize_t start, end, count, p, n, k, bulk_start
    cdef list argv
    while True:
        start = pos
        if start >= size:
            return pos, None
        if s[start] == b'\n':
            pos = start + 1
            specials.append(len(argvs))
            argvs.append([])
            ends.append(pos)
            continue
        if s[start] != b'*':
            return pos, "expected '*', got %r" % bytes(buf[start:start + 16])
        end = _find_crlf(s, start, size)
        if end < 0:
            if size - start > 64:
                return pos, "array header too long"
            return pos, None
        count = _number(s, start + 1, end)
        if count == -2:
            return pos, "bad array length"
        if count <= 0 or count > MAX_ARGS:
            return pos, "bad array length %d" % (int(buf[start + 1:end]))
        p = end + 2
        argv = []
        for k in range(count):
            if p >= size:
                return pos, None
            if s[p] != b'$':
                return pos, "expected '$', got %r" % bytes(buf[p:p + 16])
            end = _find_crlf(s, p, size)
            if end < 0:
                if size - p > 64:
                    return pos, "bulk header too long"
                return pos, None
            n = _number(s, p + 1, end)
            if n == -2:
                return pos, "bad bulk length"
            if n < 0 or n > MAX_BULK:
                return pos, "bad bulk length %d" % (int(buf[p + 1:end]))
            bulk_start = end + 2
            if bulk_start + n + 2 > size:
                return pos, None
            if s[bulk_start + n] != b'\r' or s[bulk_start + n + 1] != b'\n':
                return pos, "bulk string not terminated by CRLF"
            argv.append(PyBytes_FromStringAndSize(s + bulk_start, n))
            p = bulk_start + n + 2
        pos = p
        if _is_special(<bytes>argv[0]):
            specials.append(len(argvs))
        argvs.append(argv)
        ends.append(pos)
