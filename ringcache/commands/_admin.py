"""Reply helpers shared by the node-administration families (INFO, CONFIG,
CLIENT, COMMAND, SLOWLOG, DEBUG): text <-> bytes for names and values, the
HELP reply, and sets whose order matters to a reader.

Replies whose order matters to a reader but that Redis sends as RESP3 sets
(command flags, ACL categories, key flags) are pre-encoded as `Raw`,
because a Python set has no stable order; everything else is a plain reply
value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..protocol.resp import Raw, SimpleString
from .registry import CommandSpec, subcommand

if TYPE_CHECKING:
    from ..server.session import Session

NO_REPLY = Raw(b"")  # encodes to nothing: CLIENT REPLY OFF/SKIP, MONITOR again, SHUTDOWN

# Flag sets most administration commands share.
ADMIN_FLAGS = "admin noscript loading stale"
CONNECTION_FLAGS = "noscript loading stale"


def protected_action_allowed(setting: str, session: Session) -> bool:
    """enable-debug-command / enable-protected-configs: no, yes, or local
    (only from a loopback or unix-socket client)."""
    return setting == "yes" or (setting == "local" and session.is_local)


def text(arg: bytes) -> str:
    # Config names and values are text; surrogateescape keeps any byte intact
    # (ringcache.config reads files the same way).
    return arg.decode("utf-8", "surrogateescape")


def to_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def help_reply(argv: list[bytes], lines: Iterable[str]) -> list[SimpleString]:
    """addReplyHelp: a header naming the command as sent, the lines, HELP."""
    head = f"{argv[0].decode('utf-8', 'replace').upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [SimpleString(to_bytes(line)) for line in (head, *lines, "HELP", "    Prints this help.")]


def help_subcommand(parent: CommandSpec, lines: Iterable[str], *, since: str, acl: str = "",
                    summary: str = "Returns helpful text about the different subcommands.") -> None:
    """Register `parent HELP`, answering help_reply with these lines."""
    lines = tuple(lines)

    def help_(session: Session, argv: list[bytes]) -> Any:
        return help_reply(argv, lines)

    help_.__name__ = f"{parent.name}_help"
    subcommand(parent, "help", 2, "loading stale", since=since, acl=acl, summary=summary,
               complexity="O(1)")(help_)


def status_set(session: Session, items: Iterable[str]) -> Raw:
    """A set of status strings in a fixed order (RESP3 '~', RESP2 '*')."""
    items = list(items)
    head = b"~%d\r\n" if session.protocol == 3 else b"*%d\r\n"
    return Raw(head % len(items) + b"".join(b"+%b\r\n" % to_bytes(item) for item in items))


def bulk_set(session: Session, items: Iterable[str]) -> Raw:
    values = [to_bytes(item) for item in items]
    head = b"~%d\r\n" if session.protocol == 3 else b"*%d\r\n"
    return Raw(head % len(values) + b"".join(b"$%d\r\n%b\r\n" % (len(v), v) for v in values))
