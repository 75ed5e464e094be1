"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

Queueing happens in the dispatcher (server.dispatch): once MULTI is on, every
command except EXEC/DISCARD/MULTI/WATCH/QUIT/RESET is checked (existence,
arity, auth) and queued; a check that fails marks the transaction so EXEC
answers EXECABORT. WATCH is optimistic locking: any change to a watched key
(a write, an expiry, a flush) before EXEC makes EXEC answer a null array.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session


@command("multi", 1, "noscript loading stale fast allow_busy", group="transactions",
         since="1.2.0", summary="Starts a transaction.")
def multi(session: Session, argv: list[bytes]) -> Any:
    if session.multi is not None:
        raise CommandError(errors.MULTI_NESTED)
    session.multi = []
    session.update_gate()
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", group="transactions",
         since="1.2.0", summary="Executes all commands in a transaction.")
def exec_(session: Session, argv: list[bytes]) -> Any:
    if session.multi is None:
        raise CommandError(errors.EXEC_WITHOUT_MULTI)
    return session.server.dispatcher.exec_transaction(session)


@command("discard", 1, "noscript loading stale fast allow_busy", group="transactions",
         since="2.0.0", summary="Discards a transaction.")
def discard(session: Session, argv: list[bytes]) -> Any:
    if session.multi is None:
        raise CommandError(errors.DISCARD_WITHOUT_MULTI)
    session.reset_multi()
    return OK


@command("watch", -2, "noscript loading stale fast allow_busy", (1, -1, 1),
         group="transactions", since="2.2.0",
         summary="Monitors changes to keys to determine the execution of a transaction.")
def watch(session: Session, argv: list[bytes]) -> Any:
    if session.multi is not None:
        raise CommandError(errors.WATCH_IN_MULTI)
    for key in argv[1:]:
        session.db.lookup(key)  # a key already expired is gone, not "changed" later
        session.watch(key)
    return OK


@command("unwatch", 1, "noscript loading stale fast allow_busy", group="transactions",
         since="2.2.0", summary="Forgets about watched keys of a transaction.")
def unwatch(session: Session, argv: list[bytes]) -> Any:
    session.unwatch_all()
    return OK
