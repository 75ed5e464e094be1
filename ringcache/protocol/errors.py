"""Every error text a client can see, in one place.

The texts are Redis's, byte for byte: clients and tests match on them. Commands
raise `CommandError(TEXT)`; the dispatcher turns it into an error reply and the
connection lives on. `ProtocolError` is different: the stream can no longer be
trusted, so the connection gets the error and is closed.
"""

from __future__ import annotations


class CommandError(Exception):
    """A command failed; its message is the Redis error text (with the prefix)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(Exception):
    """The client broke the protocol: reply with the message, then close."""


# Generic
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
INCR_NAN_INF = "ERR increment would produce NaN or Infinity"
NO_SUCH_KEY = "ERR no such key"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"
INDEX_OUT_OF_RANGE = "ERR index out of range"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
SAME_OBJECT = "ERR source and destination objects are the same"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
OOM = "OOM command not allowed when used memory > 'maxmemory'."

# Transactions
MULTI_NESTED = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."

# Protocol (the connection is closed after these)
PROTO_INVALID_MULTIBULK = "ERR Protocol error: invalid multibulk length"
PROTO_INVALID_BULK = "ERR Protocol error: invalid bulk length"
PROTO_BIG_INLINE = "ERR Protocol error: too big inline request"
PROTO_BIG_MBULK_COUNT = "ERR Protocol error: too big mbulk count string"
PROTO_UNBALANCED_QUOTES = "ERR Protocol error: unbalanced quotes in request"
PROTO_QUERY_BUFFER = "ERR Protocol error: client query buffer exceeds client-query-buffer-limit"


def proto_expected(expected: str, got: int) -> str:
    return f"ERR Protocol error: expected '{expected}', got '{chr(got)}'"


def unknown_command(name: bytes, args: list[bytes]) -> str:
    """Redis 7's text: the name and up to 128 bytes of arguments, each quoted."""
    text = f"ERR unknown command '{_printable(name[:128])}', with args beginning with: "
    room = 128
    for arg in args:
        if room <= 0:
            break
        part = arg[:room]
        room -= len(part)
        text += f"'{_printable(part)}' "
    return text


def wrong_arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


def unknown_subcommand(sub: bytes, container: str) -> str:
    return (
        f"ERR unknown subcommand '{_printable(sub[:128])}'. "
        f"Try {container.upper()} HELP."
    )


def _printable(raw: bytes) -> str:
    # Redis replaces newlines (and other unprintables) so the error stays one line.
    text = raw.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text)
