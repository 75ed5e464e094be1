"""Persistence commands: SAVE, BGSAVE [SCHEDULE], BGREWRITEAOF, the INFO
persistence section, DEBUG RELOAD and DEBUG LOADAOF (rdb.c, aof.c, debug.c).

The work is done by `server.persistence` (persistence/manager.py); these
handlers only check the state and answer with Redis's texts (7.4). LASTSAVE
is in commands/server.py and reads `server.lastsave`, which the manager
keeps; the INFO persistence section (commands/info.py) is the manager's
`info_fields()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, SimpleString
from .debug import debug_subcommand
from .registry import command

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session

BGSAVE_IN_PROGRESS = "ERR Background save already in progress"
OTHER_CHILD = ("ERR Another child process is active (AOF?): can't BGSAVE right now. "
               "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")
REWRITE_IN_PROGRESS = "ERR Background append only file rewriting already in progress"
REWRITE_FAILED = ("ERR Can't execute an AOF background rewriting. "
                  "Please check the server logs for more information.")


@command("save", 1, "admin noscript no_multi", group="server", since="1.0.0",

         summary="Synchronously saves the database(s) to disk.",
         complexity="O(N) where N is the total number of keys in all databases")
def save(session: Session, argv: list[bytes]) -> Any:
    persistence = session.server.persistence
    child = persistence.child
    if child is not None and child.kind == "rdb":
        raise CommandError(BGSAVE_IN_PROGRESS)
    if not persistence.save():
        raise CommandError("ERR")
    return OK


@command("bgsave", -1, "admin noscript no_multi", group="server", since="1.0.0",

         summary="Asynchronously saves the database(s) to disk.", complexity="O(1)")
def bgsave(session: Session, argv: list[bytes]) -> Any:
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise CommandError(errors.SYNTAX)
    persistence = session.server.persistence
    child = persistence.child
    if child is not None and child.kind == "rdb":
        raise CommandError(BGSAVE_IN_PROGRESS)
    if child is not None:
        if not schedule:
            raise CommandError(OTHER_CHILD)
        persistence.bgsave_scheduled = True
        return SimpleString(b"Background saving scheduled")
    if not persistence.bgsave():
        raise CommandError("ERR")
    return SimpleString(b"Background saving started")


@command("bgrewriteaof", 1, "admin noscript no_multi", group="server", since="1.0.0",

         summary="Asynchronously rewrites the append-only file to disk.", complexity="O(1)")
def bgrewriteaof(session: Session, argv: list[bytes]) -> Any:
    persistence = session.server.persistence
    child = persistence.child
    if child is not None and child.kind == "aof":
        raise CommandError(REWRITE_IN_PROGRESS)
    if child is not None:
        persistence.aof_rewrite_scheduled = True
        return SimpleString(b"Background append only file rewriting scheduled")
    if not persistence.start_rewrite():
        raise CommandError(REWRITE_FAILED)
    return SimpleString(b"Background append only file rewriting started")


# -- DEBUG RELOAD / LOADAOF ------------------------------------------------------------


@debug_subcommand("reload", 2)
def _debug_reload(session: Session, argv: list[bytes]) -> Any:
    """Save a snapshot, empty every database, load the snapshot back."""
    server = session.server
    persistence = server.persistence
    persistence.wait_child()
    if not persistence.save():
        raise CommandError("ERR Error trying to save the DB")
    _empty(server)
    persistence.load_snapshot_file(persistence.snapshot_path())
    return OK


@debug_subcommand("loadaof", 2)
def _debug_loadaof(session: Session, argv: list[bytes]) -> Any:
    """Flush the AOF, empty every database, replay the AOF."""
    server = session.server
    persistence = server.persistence
    if persistence.aof is None:
        raise CommandError("ERR appendonly is off")
    persistence.wait_child()
    persistence.flush()
    aof = persistence.aof
    persistence.stop_aof()
    _empty(server)
    persistence.aof = None
    from ..persistence.manager import AppendOnlyFile

    reopened = AppendOnlyFile(aof.directory, aof.basename)
    persistence._load_aof(reopened)
    persistence._open_aof_at_startup(reopened)
    return OK


def _empty(server: Server) -> None:
    for db in server.live_dbs():
        db.flush()


