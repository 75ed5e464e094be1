"""stringmatchlen() from Redis's util.c, ported line by line: slow and
recursive, the specification the compiled matcher (ringcache.glob) is
tested against."""

from ringcache.glob import MAX_NESTING, _signed


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
