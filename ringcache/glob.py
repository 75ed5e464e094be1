"""Redis's glob patterns (util.c stringmatchlen) for KEYS and SCAN MATCH.

The syntax: `*` any run of bytes, `?` one byte, `[abc]` one of a set,
`[^abc]` one byte not in it, `[a-z]` a range, `\\x` the byte x itself (also
inside a class). Redis's C matcher decides the odd cases, and they are kept
here because clients see them:

* a class with nothing in it, `[]`, matches nothing and `[^]` matches any
  byte (the first `]` always closes the class);
* an unterminated class (`[abc`) runs to the end of the pattern; `[` alone
  at the end is an empty class;
* a range swallows whatever follows the dash, even the closing bracket:
  `[a-]` is the range `]`..`a` and then an unterminated class;
* range ends are compared as C `char`, which is signed on x86-64 (the
  reference platform): `[a-\\xff]` is the range -1..97, i.e. the bytes
  0x00-0x61 and 0xff;
* a pattern never matches an empty string unless it is empty itself
  (`*` does match an empty key in KEYS and SCAN, which special-case the
  pattern `*`);
* a trailing lone backslash matches a backslash;
* a pattern with more than 1000 `*` followed by something never matches
  (Redis's recursion guard against abusive patterns).

Theory of operation
-------------------
The pattern is tokenized exactly as the C matcher reads it, then compiled to
a Python regex (cached), because `re` runs in C. The straightforward
translation (`*` -> `.*`) backtracks exponentially on patterns such as
`*a*a*a*a*b` (the reason Redis added skipLongerMatches, CVE-2022-36021).
Instead every `*` but the last becomes `(?>.*?SEGMENT)`: the earliest place
where the fixed-length segment after the star matches, committed atomically.
That is enough because segments have fixed length: if any placement of the
segments matches, placing each one as early as possible also does (the rest
of the text only gets longer). The work is then O(len(text) x
len(pattern)), as in Redis.

`match_reference` is a line-by-line port of the C function (recursive, so
only for tests: it needs a raised recursion limit near the nesting guard);
the tests check the compiled form against it on random patterns.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["glob_match", "compile_glob", "match_reference"]

# Token kinds.
_STAR, _ANY, _LIT, _CLASS = 0, 1, 2, 3

_SPECIAL = frozenset(b"*?[\\")
MAX_NESTING = 1000
_CACHE_MAX = 512  # compiled patterns kept
_CACHEABLE_LEN = 4096  # longer patterns are compiled every time
_cache: dict[bytes, Callable[[bytes], bool]] = {}


def glob_match(pattern: bytes, text: bytes) -> bool:
    """True if text matches the Redis glob pattern (case-sensitive)."""
    matcher = _cache.get(pattern)
    if matcher is None:
        matcher = compile_glob(pattern)
    return matcher(text)


def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A function text -> bool for pattern; cached for short patterns."""
    matcher = _cache.get(pattern)
    if matcher is not None:
        return matcher
    matcher = _build(pattern)
    if len(pattern) <= _CACHEABLE_LEN:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[pattern] = matcher
    return matcher


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def _tokenize(p: bytes) -> list[tuple]:
    """The pattern as the C matcher walks it: (_STAR,), (_ANY,), (_LIT, byte),
    (_CLASS, frozenset of the bytes it matches)."""
    tokens: list[tuple] = []
    n = len(p)
    i = 0
    while i < n:
        c = p[i]
        if c == 0x2A:  # '*' (consecutive stars are one)
            while i + 1 < n and p[i + 1] == 0x2A:
                i += 1
            tokens.append((_STAR,))
        elif c == 0x3F:  # '?'
            tokens.append((_ANY,))
        elif c == 0x5B:  # '['
            i += 1
            negate = i < n and p[i] == 0x5E  # '^'
            if negate:
                i += 1
            members: set[int] = set()
            while True:
                rest = n - i
                here = p[i] if rest > 0 else 0  # C reads the terminating NUL
                if here == 0x5C and rest >= 2:  # '\\' escapes the next byte
                    i += 1
                    members.add(p[i])
                elif here == 0x5D and rest > 0:  # ']'
                    break
                elif rest <= 0:  # unterminated: the class ends with the pattern
                    i -= 1
                    break
                elif rest >= 3 and p[i + 1] == 0x2D:  # 'x-y'
                    lo, hi = _signed(p[i]), _signed(p[i + 2])
                    if lo > hi:
                        lo, hi = hi, lo
                    members.update(v & 0xFF for v in range(lo, hi + 1))
                    i += 2
                else:
                    members.add(here)
                i += 1
            if negate:
                members = set(range(256)) - members
            tokens.append((_CLASS, frozenset(members)))
        else:
            if c == 0x5C and n - i >= 2:  # '\\x' is x
                i += 1
                c = p[i]
            tokens.append((_LIT, c))
        i += 1
    return tokens


def _class_regex(members: frozenset) -> bytes:
    if not members:
        return b"(?!)"
    if len(members) == 256:
        return b"."
    parts = []
    values = sorted(members)
    start = prev = values[0]
    for v in values[1:] + [None]:  # type: ignore[list-item]
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(b"\\x%02x" % start if start == prev else b"\\x%02x-\\x%02x" % (start, prev))
        if v is not None:
            start = prev = v
    return b"[" + b"".join(parts) + b"]"


def _segment_regex(tokens: list[tuple]) -> bytes:
    out = []
    for token in tokens:
        kind = token[0]
        if kind == _ANY:
            out.append(b".")
        elif kind == _LIT:
            out.append(re.escape(bytes((token[1],))))
        else:
            out.append(_class_regex(token[1]))
    return b"".join(out)


def _build(pattern: bytes) -> Callable[[bytes], bool]:
    if not pattern:
        return _is_empty
    # Fast paths for the shapes most patterns have: `literal` and `prefix*`.
    if not _SPECIAL.intersection(pattern):
        return pattern.__eq__
    if pattern.endswith(b"*") and not _SPECIAL.intersection(pattern.rstrip(b"*")):
        prefix = pattern.rstrip(b"*")
        if not prefix:
            return bool  # only a non-empty text matches `*` (see above)
        return lambda text: text.startswith(prefix)

    tokens = _tokenize(pattern)
    segments: list[list[tuple]] = [[]]
    for token in tokens:
        if token[0] == _STAR:
            segments.append([])
        else:
            segments[-1].append(token)
    stars = len(segments) - 1
    inner_stars = stars - (1 if not segments[-1] else 0)
    if inner_stars > MAX_NESTING:
        # A match recurses once per inner star: past Redis's guard nothing
        # can match (checked against redis-server).
        return _never
    parts = [_segment_regex(segments[0])]
    for segment in segments[1:-1]:
        parts.append(b"(?>.*?" + _segment_regex(segment) + b")")
    if stars:
        parts.append(b".*" + _segment_regex(segments[-1]))
    fullmatch = re.compile(b"".join(parts), re.DOTALL).fullmatch

    def match(text: bytes) -> bool:
        # C's matcher never enters its loop for an empty string.
        return fullmatch(text) is not None if text else False

    return match


def _is_empty(text: bytes) -> bool:
    return not text


def _never(text: bytes) -> bool:
    return False


def match_reference(pattern: bytes, text: bytes) -> bool:
    """stringmatchlen() ported line by line: slow, the specification."""
    return _ref(pattern, 0, text, 0, [False], 0)


def _ref(p: bytes, pi: int, s: bytes, si: int, skip: list[bool], nesting: int) -> bool:
    if nesting > MAX_NESTING:
        return False
    plen, slen = len(p), len(s)
    while pi < plen and si < slen:
        c = p[pi]
        if c == 0x2A:
            while plen - pi >= 2 and p[pi + 1] == 0x2A:
                pi += 1
            if plen - pi == 1:
                return True
            while si < slen:
                if _ref(p, pi + 1, s, si, skip, nesting + 1):
                    return True
                if skip[0]:
                    return False
                si += 1
            skip[0] = True
            return False
        elif c == 0x3F:
            si += 1
        elif c == 0x5B:
            pi += 1
            negate = pi < plen and p[pi] == 0x5E
            if negate:
                pi += 1
            matched = False
            while True:
                rest = plen - pi
                here = p[pi] if rest > 0 else 0
                if here == 0x5C and rest >= 2:
                    pi += 1
                    if p[pi] == s[si]:
                        matched = True
                elif here == 0x5D and rest > 0:
                    break
                elif rest <= 0:
                    pi -= 1
                    break
                elif rest >= 3 and p[pi + 1] == 0x2D:
                    lo, hi, ch = _signed(p[pi]), _signed(p[pi + 2]), _signed(s[si])
                    if lo > hi:
                        lo, hi = hi, lo
                    pi += 2
                    if lo <= ch <= hi:
                        matched = True
                elif here == s[si]:
                    matched = True
                pi += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            si += 1
        else:
            if c == 0x5C and plen - pi >= 2:
                pi += 1
            if p[pi] != s[si]:
                return False
            si += 1
        pi += 1
        if si == slen:
            while pi < plen and p[pi] == 0x2A:
                pi += 1
            break
    return pi == plen and si == slen
