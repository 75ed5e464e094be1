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

The tests check the compiled form against a line-by-line port of the C
function (tests/glob_reference.py) on random patterns.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["glob_match", "compile_glob"]

# Token kinds.
_STAR, _ANY, _LIT, _CLASS = 0, 1, 2, 3

_SPECIAL = frozenset(b"*?[\\")
MAX_NESTING = 1000
_CACHE_MAX = 512  # compiled patterns kept
_CACHEABLE_LEN = 4096  # longer patterns are compiled every time
_cache: dict[bytes, Callable[[bytes], bool]] = {}


def glob_match(pattern: bytes, text: bytes, nocase: bool = False) -> bool:
    """True if text matches the Redis glob pattern. nocase (CONFIG GET,
    COMMAND LIST) compares as Redis's tolower() does: lowering both sides
    first is the same for the ASCII letters it folds."""
    if nocase:
        pattern, text = pattern.lower(), text.lower()
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
