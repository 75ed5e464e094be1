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


class WrongTypeError(CommandError):
    """WRONGTYPE. A class, raised as `raise WrongTypeError`, so that every raise
    makes a new instance: a shared instance would collect the traceback of
    every raise (Python chains them), and with it every frame, connection and
    buffer it passed through, for good (issue 11)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(WRONGTYPE)


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
# DUMP / RESTORE (cluster.c)
BUSYKEY = "BUSYKEY Target key name already exists."
BUSY_SCRIPT = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
RESTORE_BAD_TTL = "ERR Invalid TTL value, must be >= 0"
RESTORE_BAD_IDLETIME = "ERR Invalid IDLETIME value, must be >= 0"
RESTORE_BAD_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"
DUMP_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_DATA_FORMAT = "ERR Bad data format"
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

# Connection refusals (sent as the connection's only reply, then closed)
MAX_CLIENTS = "ERR max number of clients reached"
DENIED_PROTECTED_MODE = (
    "DENIED Redis is running in protected mode because protected mode is enabled and no password "
    "is set for the default user. In this mode connections are only accepted from the loopback "
    "interface. If you want to connect from external computers to Redis you may adopt one of the "
    "following solutions: 1) Just disable protected mode sending the command 'CONFIG SET "
    "protected-mode no' from the loopback interface by connecting to Redis from the same host the "
    "server is running, however MAKE SURE Redis is not publicly accessible from internet if you do "
    "so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable "
    "the protected mode by editing the Redis configuration file, and setting the protected mode "
    "option to 'no', and then restarting the server. 3) If you started the server manually just "
    "for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication "
    "password for the default user. NOTE: You only need to do one of the above things in order for "
    "the server to start accepting connections from the outside."
)
MAXCLIENTS_OVER_FD_LIMIT = "The operating system is not able to handle the specified number of clients, try with {}"

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
PROTO_BIG_BULK_COUNT = "ERR Protocol error: too big bulk count string"
# Before AUTH (requirepass set) Redis accepts only small requests.
PROTO_UNAUTH_MULTIBULK = "ERR Protocol error: unauthenticated multibulk length"
PROTO_UNAUTH_BULK = "ERR Protocol error: unauthenticated bulk length"


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


# -- Server and administration commands (commands/server.py, info.py, config.py, client.py ...)
NO_SUCH_CLIENT = "ERR No such client"
CLIENT_ID_POSITIVE = "ERR client-id should be greater than 0"
INVALID_CLIENT_ID = "ERR Invalid client ID"
MAXAGE_NOT_INTEGER = "ERR maxage is not an integer or out of range"
MAXAGE_POSITIVE = "ERR maxage should be greater than 0"
PAUSE_MODE = "ERR CLIENT PAUSE mode must be WRITE or ALL"
TIMEOUT_NOT_INTEGER = "ERR timeout is not an integer or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_OUT_OF_RANGE = "ERR timeout is out of range"
SLOWLOG_COUNT = "ERR count should be greater than or equal to -1"
SHUTDOWN_ABORT_FAILED = "ERR No shutdown in progress."  # (redis-server 7.0.15)
GETKEYS_INVALID_COMMAND = "ERR Invalid command specified"
GETKEYS_NO_KEYS = "ERR The command has no key arguments"
GETKEYS_BAD_ARITY = "ERR Invalid number of arguments specified for command"
GETKEYS_BAD_ARGS = "ERR Invalid arguments specified for command"
DEBUG_NOT_ALLOWED = (
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server."
)


def subcommand_syntax(sub: bytes, container: str) -> str:
    """addReplySubcommandSyntaxError: a subcommand the command parses itself
    (DEBUG, or a known one with an argument count it refuses)."""
    return (
        f"ERR unknown subcommand or wrong number of arguments for '{_printable(sub[:128])}'. "
        f"Try {container.upper()} HELP."
    )


def unknown_client_type(name: bytes) -> str:
    return f"ERR Unknown client type '{_printable(name)}'"


def no_such_user(name: bytes) -> str:
    return f"ERR No such user '{_printable(name)}'"


def unrecognized_option(name: bytes) -> str:
    return f"ERR Unrecognized option '{_printable(name)}'"


def client_attr_chars(attr: bytes) -> str:
    return f"ERR {_printable(attr)} cannot contain spaces, newlines or special characters."


# -- Strings and keys (commands/strings.py, commands/keys.py) -------------------
DECREMENT_OVERFLOW = "ERR decrement would overflow"
INVALID_CURSOR = "ERR invalid cursor"
INT_RANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"
EXPIRE_NX_AND_OTHERS = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_AND_LT = "ERR GT and LT options at the same time are not compatible"
MOVE_IN_CLUSTER = "ERR MOVE is not allowed in cluster mode"
COPY_DB_IN_CLUSTER = "ERR Copying to another database is not allowed in cluster mode"
LFU_NOT_SELECTED = (
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
    "that when switching between policies at runtime LRU and LFU data will take some time to adjust."
)
LFU_SELECTED = (
    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
    "switching between policies at runtime LRU and LFU data will take some time to adjust."
)


def unsupported_option(option: bytes) -> str:
    """EXPIRE and friends: an option they do not know (Redis prints it raw)."""
    return f"ERR Unsupported option {_printable(option)}"

# -- Cluster mode (cluster/) ---------------------------------------------------
CLUSTER_DISABLED = "ERR This instance has cluster support disabled"
CLUSTER_UNKNOWN_NODE = "ERR Unknown node {}"
CLUSTER_NOT_A_MASTER = "ERR The specified node is not a master"
# Redirections and refusals (Redis src/cluster.c, clusterRedirectClient).
CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
TRYAGAIN = "TRYAGAIN Multiple keys request during rehashing of slot"
CLUSTERDOWN = "CLUSTERDOWN The cluster is down"
CLUSTERDOWN_READONLY = "CLUSTERDOWN The cluster is down and only accepts read commands"
CLUSTERDOWN_UNBOUND = "CLUSTERDOWN Hash slot not served"
MOVED = "MOVED {} {}:{}"  # slot, host, port
ASK = "ASK {} {}:{}"
