"""What persistence needs from the node it runs in: `PersistenceHost`.

persistence/ depends on storage/ and protocol/ only. The node (server/)
implements this interface; persistence never imports server/ or commands/.
The interface is small on purpose: the databases and their clock, the
configuration values, the write stream to join as a sink, replaying one
command (AOF loading), and the few hooks around fork() and the group fsync
of `appendfsync always`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from ..storage.clock import Clock
from ..storage.keyspace import Keyspace


class ConfigView(Protocol):
    """The node's configuration: values by name, and change callbacks."""

    def __getitem__(self, name: str) -> Any: ...

    def on_change(self, name: str, callback: Callable[[Any], None]) -> None: ...


class WriteSinks(Protocol):
    """The node's write stream, as a sink sees it (server/write_stream.py)."""

    def add_sink(self, sink: Any) -> None: ...

    def remove_sink(self, sink: Any) -> None: ...


class Replayer(Protocol):
    """Runs the commands of an append-only file as Redis's fake client
    does: no checks, no OOM, no client state in the way, its own selected
    database, nothing propagated."""

    def knows(self, name: bytes) -> bool:
        """Whether name is a command of this node."""
        ...

    def run(self, argv: list[bytes]) -> None: ...


class PersistenceHost(Protocol):
    @property
    def config(self) -> ConfigView: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def write_stream(self) -> WriteSinks: ...

    lastsave: float  # LASTSAVE: when the last snapshot was written (time.time())
    dirty_at_save: int  # the change counters' sum when it was taken

    @property
    def dirty(self) -> int:
        """Changes since the last snapshot."""
        ...

    def live_dbs(self) -> list[Keyspace]: ...

    def db(self, index: int) -> Keyspace:
        """Database `index`, created on first use."""
        ...

    def replayer(self) -> Replayer:
        """A new fake client for one file's commands."""
        ...

    def in_forked_child(self) -> None:
        """Just after fork(), in the child: let go of the parent's sockets."""
        ...

    def defer(self, callback: Callable[[], None]) -> bool:
        """Run callback at the start of the next loop turn; False (and
        nothing scheduled) when no event loop runs."""
        ...

    def hold_replies(self) -> None:
        """Keep every reply of this loop turn unsent until release_replies()."""
        ...

    def release_replies(self) -> None: ...

    def rss_bytes(self) -> int: ...

    def function_libraries(self) -> list[bytes]:
        """The code of each function library (FUNCTION LOAD), for the snapshot."""
        ...

    def load_function_libraries(self, codes: list[bytes]) -> None:
        """Load the function libraries a snapshot holds (replacing any of
        the same name); ValueError with Redis's text if one does not load."""
        ...
