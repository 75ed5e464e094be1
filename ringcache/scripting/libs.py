"""The libraries Redis gives scripts beyond Lua's own: bit, cjson, struct and
cmsgpack. lupa's Lua 5.1 ships none of them, so they are written here in
Python and installed as Lua tables of Python callables.

They are Python callables, not Lua wrappers around them, on purpose: a
script's `return cjson.encode(t)` is then a C call for Lua and keeps the
script's frame, so an error still names its line (a Lua wrapper would be a
tail call). The price: `type(cjson.encode)` is "userdata", not "function".

Errors: a function raises LibError; the engine's error handler reports it
as Redis does for a C library's luaL_error ("ERR user_script:<line>: msg"),
and pcall hands the script the bare message. Outputs follow Redis 7.0's
builds of lua-cjson (numbers as "%.14g", "/" escaped, an empty table as
{}), LuaBitOp (32-bit signed results), lua-struct and lua-cmsgpack (the
smallest encoding that holds a value; floats as float32 when exact).
"""

from __future__ import annotations

import json
import math
import struct as pystruct
from typing import Any, Callable

INT32 = 1 << 32


class LibError(Exception):
    """A library function's error (luaL_error in Redis's C libraries)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text.encode()


class _Null:
    """cjson.null (a light userdata in Redis)."""

    def __repr__(self) -> str:
        return "cjson.null"


NULL = _Null()


def install(lua: Any, libs: Any) -> None:
    """Put each library table in `libs` (name -> Lua table)."""
    table_type = lua.eval("type")

    def is_table(value: Any) -> bool:
        return table_type(value) == b"table"

    libs[b"bit"] = lua.table_from({name.encode(): fn for name, fn in _bit_functions().items()})
    libs[b"cjson"] = lua.table_from({
        b"encode": lambda *args: _cjson_encode(args, is_table),
        b"decode": lambda *args: _cjson_decode(lua, args),
        b"null": NULL,
    })
    libs[b"struct"] = lua.table_from({
        b"pack": lambda *args: _struct_pack(args),
        b"unpack": lambda *args: _struct_unpack(args),
        b"size": lambda *args: _struct_size(args),
    })
    libs[b"cmsgpack"] = lua.table_from({
        b"pack": lambda *args: _msgpack_pack(args, is_table),
        b"unpack": lambda *args: _msgpack_unpack(lua, args),
    })


# -- argument checks (luaL_check*) ----------------------------------------------

def _type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, bytes):
        return "string"
    return "table" if hasattr(value, "keys") else "userdata"


def _check_number(args: tuple, i: int, fname: str) -> float:
    value = args[i] if i < len(args) else None
    if isinstance(value, (int, float)) and value is not True and value is not False:
        return value
    if isinstance(value, bytes):  # Lua converts numeric strings
        try:
            return float(value)
        except ValueError:
            pass
    got = "no value" if i >= len(args) else _type_name(value)
    raise LibError(f"bad argument #{i + 1} to '{fname}' (number expected, got {got})")


def _check_string(args: tuple, i: int, fname: str) -> bytes:
    value = args[i] if i < len(args) else None
    if isinstance(value, bytes):
        return value
    if isinstance(value, (int, float)) and value is not True and value is not False:
        return _lua_tostring(value)
    got = "no value" if i >= len(args) else _type_name(value)
    raise LibError(f"bad argument #{i + 1} to '{fname}' (string expected, got {got})")


def _lua_tostring(value: float) -> bytes:
    """Lua 5.1's number to string ("%.14g")."""
    if isinstance(value, int) and abs(value) < 10**14:
        return b"%d" % value
    return b"%.14g" % value


# -- bit (LuaBitOp) -------------------------------------------------------------

def _tobit(value: float) -> int:
    """LuaBitOp's normalisation: the number modulo 2^32, as a signed int32."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return 0
        value = int(round(value))  # (LuaBitOp rounds through a double trick)
    value %= INT32
    return value - INT32 if value >= 1 << 31 else value


def _bit_functions() -> dict[str, Callable[..., Any]]:
    def unary(name: str, op: Callable[[int], int]) -> Callable[..., int]:
        return lambda *args: _tobit(op(_tobit(_check_number(args, 0, name)) % INT32))

    def fold(name: str, op: Callable[[int, int], int]) -> Callable[..., int]:
        def run(*args: Any) -> int:
            acc = _tobit(_check_number(args, 0, name)) % INT32
            for i in range(1, len(args)):
                acc = op(acc, _tobit(_check_number(args, i, name)) % INT32)
            return _tobit(acc)
        return run

    def shift(name: str, op: Callable[[int, int], int]) -> Callable[..., int]:
        def run(*args: Any) -> int:
            value = _tobit(_check_number(args, 0, name)) % INT32
            count = _tobit(_check_number(args, 1, name)) & 31
            return _tobit(op(value, count))
        return run

    def arshift(value: int, n: int) -> int:
        signed = value - INT32 if value >= 1 << 31 else value
        return signed >> n

    def tohex(*args: Any) -> bytes:
        value = _tobit(_check_number(args, 0, "tohex")) % INT32
        n = 8 if len(args) < 2 or args[1] is None else _tobit(_check_number(args, 1, "tohex"))
        upper = n < 0
        n = min(abs(n), 8)
        text = b"%0*x" % (8, value)
        text = text[8 - n:] if n else b""
        return text.upper() if upper else text

    return {
        "tobit": lambda *args: _tobit(_check_number(args, 0, "tobit")),
        "bnot": unary("bnot", lambda x: ~x),
        "bswap": unary("bswap", lambda x: int.from_bytes(x.to_bytes(4, "little"), "big")),
        "band": fold("band", lambda a, b: a & b),
        "bor": fold("bor", lambda a, b: a | b),
        "bxor": fold("bxor", lambda a, b: a ^ b),
        "lshift": shift("lshift", lambda x, n: x << n),
        "rshift": shift("rshift", lambda x, n: x >> n),
        "arshift": shift("arshift", arshift),
        "rol": shift("rol", lambda x, n: (x << n) | (x >> (32 - n)) if n else x),
        "ror": shift("ror", lambda x, n: (x >> n) | (x << (32 - n)) if n else x),
        "tohex": tohex,
    }


# -- cjson ----------------------------------------------------------------------

_JSON_ESCAPES = {i: b"\\u%04x" % i for i in range(32)}
_JSON_ESCAPES.update({ord("\b"): b"\\b", ord("\t"): b"\\t", ord("\n"): b"\\n", ord("\f"): b"\\f",
                      ord("\r"): b"\\r", ord('"'): b'\\"', ord("\\"): b"\\\\", ord("/"): b"\\/",
                      127: b"\\u007f"})
_JSON_ESCAPE_TABLE = [_JSON_ESCAPES.get(i, bytes([i])) for i in range(256)]


def _json_string(value: bytes) -> bytes:
    return b'"' + b"".join([_JSON_ESCAPE_TABLE[c] for c in value]) + b'"'


def _json_number(value: float) -> bytes:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise LibError("Cannot serialise number: must not be NaN or Inf")
    return b"%.14g" % value


def _cjson_encode(args: tuple, is_table: Callable[[Any], bool]) -> bytes:
    if len(args) != 1:
        raise LibError("expected 1 argument")
    out: list[bytes] = []
    _json_value(args[0], out, is_table, 0)
    return b"".join(out)


def _json_value(value: Any, out: list[bytes], is_table: Callable[[Any], bool], depth: int) -> None:
    if value is None or value is NULL:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, (int, float)):
        out.append(_json_number(value))
    elif isinstance(value, bytes):
        out.append(_json_string(value))
    elif is_table(value):
        if depth >= 1000:
            raise LibError("Cannot serialise, excessive nesting (1001)")
        items = list(value.items())
        length = _array_length(items)
        if length > 0:
            by_index = dict(items)
            out.append(b"[")
            for i in range(1, length + 1):
                if i > 1:
                    out.append(b",")
                _json_value(by_index.get(i), out, is_table, depth + 1)
            out.append(b"]")
            return
        out.append(b"{")
        for n, (key, item) in enumerate(items):
            if n:
                out.append(b",")
            if isinstance(key, bytes):
                out.append(_json_string(key))
            elif isinstance(key, (int, float)) and key is not True and key is not False:
                out.append(b'"' + _json_number(key) + b'"')
            else:
                raise LibError("Cannot serialise " + _type_name(key) +
                               ": table key must be a number or string")
            out.append(b":")
            _json_value(item, out, is_table, depth + 1)
        out.append(b"}")
    else:
        kind = "function" if callable(value) else _type_name(value)
        raise LibError(f"Cannot serialise {kind}: type not supported")


def _array_length(items: list) -> int:
    """lua-cjson's lua_array_length: the largest key when every key is a
    positive integer (0 for an object); too sparse an array is an error."""
    if not items:
        return 0
    largest = 0
    for key, _ in items:
        if not isinstance(key, (int, float)) or key is True or key is False:
            return 0
        if key < 1 or key != int(key):
            return 0
        largest = max(largest, int(key))
    if largest > 10 and largest > 2 * len(items):
        raise LibError("Cannot serialise table: excessively sparse array")
    return largest


def _cjson_decode(lua: Any, args: tuple) -> Any:
    if len(args) != 1:
        raise LibError("expected 1 argument")
    text = _check_string(args, 0, "decode")
    try:
        value = json.loads(text.decode("utf-8", "surrogateescape"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise LibError("Expected value but found invalid token at character 1") from None
    return _to_lua(lua, value)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _to_lua(lua: Any, value: Any) -> Any:
    if value is None:
        return NULL
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, list):
        table = lua.table()
        for i, item in enumerate(value, 1):
            table[i] = _to_lua(lua, item)
        return table
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            table[key.encode("utf-8", "surrogateescape")] = _to_lua(lua, item)
        return table
    return value


# -- struct (lua-struct) ---------------------------------------------------------

def _struct_items(fmt: bytes) -> list[tuple[str, str, int]]:
    """(endianness, code, size) for each item of a lua-struct format."""
    items = []
    endian = "<"
    i = 0
    sizes = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "f": 4, "d": 8}
    text = fmt.decode("latin-1")
    while i < len(text):
        code = text[i]
        i += 1
        digits = ""
        while i < len(text) and text[i].isdigit():
            digits += text[i]
            i += 1
        if code in " \t\n":
            continue
        if code == "<":
            endian = "<"
        elif code in ">":
            endian = ">"
        elif code in "!=":
            endian = "<"
        elif code in sizes:
            items.append((endian, code, sizes[code]))
        elif code in "iI":
            size = int(digits) if digits else 4
            if not 1 <= size <= 8:
                raise LibError(f"integral size {size} is larger than limit of 8")
            items.append((endian, code, size))
        elif code == "c":
            items.append((endian, code, int(digits) if digits else 1))
        elif code == "s":
            items.append((endian, code, 0))
        elif code == "x":
            items.append((endian, code, 1))
        else:
            raise LibError(f"invalid format option '{code}'")
    return items


def _struct_size(args: tuple) -> int:
    fmt = _check_string(args, 0, "size")
    total = 0
    for _, code, size in _struct_items(fmt):
        if code == "s":
            raise LibError("options 'c0' - 's' have undefined sizes")
        total += size
    return total


def _struct_pack(args: tuple) -> bytes:
    fmt = _check_string(args, 0, "pack")
    out = bytearray()
    arg = 1
    for endian, code, size in _struct_items(fmt):
        if code == "x":
            out += b"\0"
            continue
        if code in "fd":
            out += pystruct.pack(endian + code, _check_number(args, arg, "pack"))
        elif code in "cs":
            data = _check_string(args, arg, "pack")
            if code == "c":
                if len(data) < size:
                    raise LibError(f"bad argument #{arg + 1} to 'pack' (string too short)")
                out += data[:size]
            else:
                out += data + b"\0"
        else:
            value = int(_check_number(args, arg, "pack")) % (1 << (8 * size))
            out += value.to_bytes(size, "little" if endian == "<" else "big")
        arg += 1
    return bytes(out)


def _struct_unpack(args: tuple) -> tuple:
    fmt = _check_string(args, 0, "unpack")
    data = _check_string(args, 1, "unpack")
    pos = int(_check_number(args, 2, "unpack")) - 1 if len(args) > 2 and args[2] is not None else 0
    values: list[Any] = []
    for endian, code, size in _struct_items(fmt):
        if code == "s":
            end = data.find(b"\0", pos)
            if end < 0:
                raise LibError("bad argument #2 to 'unpack' (unfinished string in data)")
            values.append(data[pos:end])
            pos = end + 1
            continue
        if pos + size > len(data):
            raise LibError("bad argument #2 to 'unpack' (data string too short)")
        chunk = data[pos:pos + size]
        pos += size
        if code == "x":
            continue
        if code in "fd":
            values.append(pystruct.unpack(endian + code, chunk)[0])
        elif code == "c":
            values.append(chunk)
        else:
            value = int.from_bytes(chunk, "little" if endian == "<" else "big",
                                   signed=code.islower())
            values.append(value)
    values.append(pos + 1)
    return tuple(values)


# -- cmsgpack (lua-cmsgpack) -------------------------------------------------------

def _msgpack_pack(args: tuple, is_table: Callable[[Any], bool]) -> bytes:
    if not args:
        raise LibError("MessagePack pack needs input.")
    out = bytearray()
    for value in args:
        _pack_value(value, out, is_table, 0)
    return bytes(out)


def _pack_value(value: Any, out: bytearray, is_table: Callable[[Any], bool], depth: int) -> None:
    if value is None or value is NULL:
        out += b"\xc0"
    elif value is True:
        out += b"\xc3"
    elif value is False:
        out += b"\xc2"
    elif isinstance(value, (int, float)):
        if math.isfinite(value) and value == int(value):
            _pack_int(int(value), out)
        elif pystruct.unpack("f", pystruct.pack("f", value))[0] == value:
            out += b"\xca" + pystruct.pack(">f", value)
        else:
            out += b"\xcb" + pystruct.pack(">d", value)
    elif isinstance(value, bytes):
        n = len(value)
        if n < 32:
            out.append(0xA0 | n)
        elif n < 256:
            out += b"\xd9" + bytes([n])
        elif n < 65536:
            out += b"\xda" + n.to_bytes(2, "big")
        else:
            out += b"\xdb" + n.to_bytes(4, "big")
        out += value
    elif is_table(value) and depth < 16:
        items = list(value.items())
        length = len(items)
        is_array = all(isinstance(k, (int, float)) and k is not True and k is not False
                       for k, _ in items) and sorted(int(k) for k, _ in items) == list(range(1, length + 1))
        if is_array:
            _pack_header(length, out, 0x90, b"\xdc", b"\xdd")
            for i in range(1, length + 1):
                _pack_value(value[i], out, is_table, depth + 1)
        else:
            _pack_header(length, out, 0x80, b"\xde", b"\xdf")
            for key, item in items:
                _pack_value(key, out, is_table, depth + 1)
                _pack_value(item, out, is_table, depth + 1)
    else:
        out += b"\xc0"  # functions, userdata, tables nested too deep: nil


def _pack_header(n: int, out: bytearray, fix: int, code16: bytes, code32: bytes) -> None:
    if n < 16:
        out.append(fix | n)
    elif n < 65536:
        out += code16 + n.to_bytes(2, "big")
    else:
        out += code32 + n.to_bytes(4, "big")


def _pack_int(n: int, out: bytearray) -> None:
    if n >= 0:
        if n < 128:
            out.append(n)
        elif n < 256:
            out += b"\xcc" + bytes([n])
        elif n < 65536:
            out += b"\xcd" + n.to_bytes(2, "big")
        elif n < 1 << 32:
            out += b"\xce" + n.to_bytes(4, "big")
        else:
            out += b"\xcf" + (n % (1 << 64)).to_bytes(8, "big")
    elif n >= -32:
        out.append(n & 0xFF)
    elif n >= -128:
        out += b"\xd0" + n.to_bytes(1, "big", signed=True)
    elif n >= -32768:
        out += b"\xd1" + n.to_bytes(2, "big", signed=True)
    elif n >= -(1 << 31):
        out += b"\xd2" + n.to_bytes(4, "big", signed=True)
    else:
        out += b"\xd3" + max(n, -(1 << 63)).to_bytes(8, "big", signed=True)


def _msgpack_unpack(lua: Any, args: tuple) -> tuple:
    data = _check_string(args, 0, "unpack")
    values = []
    pos = 0
    try:
        while pos < len(data):
            value, pos = _unpack_value(lua, data, pos)
            values.append(value)
    except (IndexError, pystruct.error):
        raise LibError("Missing bytes in input.") from None
    return tuple(values)


def _unpack_value(lua: Any, data: bytes, pos: int) -> tuple[Any, int]:
    code = data[pos]
    pos += 1
    if code < 0x80:
        return code, pos
    if code >= 0xE0:
        return code - 256, pos
    if 0xA0 <= code < 0xC0:
        n = code & 0x1F
        return data[pos:pos + n], pos + n
    if 0x90 <= code < 0xA0:
        return _unpack_array(lua, data, pos, code & 0x0F)
    if 0x80 <= code < 0x90:
        return _unpack_map(lua, data, pos, code & 0x0F)
    fixed = {0xCC: (1, False), 0xCD: (2, False), 0xCE: (4, False), 0xCF: (8, False),
             0xD0: (1, True), 0xD1: (2, True), 0xD2: (4, True), 0xD3: (8, True)}
    if code in fixed:
        size, signed = fixed[code]
        if pos + size > len(data):
            raise IndexError
        return int.from_bytes(data[pos:pos + size], "big", signed=signed), pos + size
    if code == 0xC0:
        return None, pos
    if code in (0xC2, 0xC3):
        return code == 0xC3, pos
    if code == 0xCA:
        return pystruct.unpack(">f", data[pos:pos + 4])[0], pos + 4
    if code == 0xCB:
        return pystruct.unpack(">d", data[pos:pos + 8])[0], pos + 8
    lengths = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4}
    if code in lengths:
        size = lengths[code]
        n = int.from_bytes(data[pos:pos + size], "big")
        pos += size
        if pos + n > len(data):
            raise IndexError
        return data[pos:pos + n], pos + n
    if code in (0xDC, 0xDD):
        size = 2 if code == 0xDC else 4
        return _unpack_array(lua, data, pos + size, int.from_bytes(data[pos:pos + size], "big"))
    if code in (0xDE, 0xDF):
        size = 2 if code == 0xDE else 4
        return _unpack_map(lua, data, pos + size, int.from_bytes(data[pos:pos + size], "big"))
    raise LibError("Bad data format in input.")


def _unpack_array(lua: Any, data: bytes, pos: int, n: int) -> tuple[Any, int]:
    table = lua.table()
    for i in range(1, n + 1):
        table[i], pos = _unpack_value(lua, data, pos)
    return table, pos


def _unpack_map(lua: Any, data: bytes, pos: int, n: int) -> tuple[Any, int]:
    table = lua.table()
    for _ in range(n):
        key, pos = _unpack_value(lua, data, pos)
        table[key], pos = _unpack_value(lua, data, pos)
    return table, pos
