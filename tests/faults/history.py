"""The record of a run: every client operation with its outcome and times.

An `Op` is one client call. Its outcome is "ok" (acknowledged), "fail" (the
server refused it, so it did not take effect) or "info" (a timeout or a lost
connection: it may or may not have taken effect). Times are
`time.monotonic()` seconds. For writes, `replicated` is what the `WAIT 1 ms`
after it said (True: at least one replica acknowledged it; False: none in
time or WAIT failed; None: no WAIT was run). `node` is the address that
answered (as the client's slot table had it after the call).

Appending is thread-safe (list.append under the GIL); the checker reads the
history only after the workers stopped.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator

OK, FAIL, INFO = "ok", "fail", "info"
WRITES = ("set", "incr")


@dataclasses.dataclass
class Op:
    process: int          # the worker
    f: str                # "set", "incr" or "get"
    key: str
    value: int | None     # SET: the value written; INCR/GET: the value returned
    start: float
    end: float
    outcome: str          # OK, FAIL or INFO
    slot: int = -1
    node: str = ""
    replicated: bool | None = None
    error: str = ""

    @property
    def is_write(self) -> bool:
        return self.f in WRITES


@dataclasses.dataclass
class Event:
    """A fault or a step of one (kill, stop, cont, partition, heal, ...), for
    the report and for measuring around it."""
    at: float
    name: str
    detail: str = ""


class History:
    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.events: list[Event] = []

    def add(self, op: Op) -> None:
        self.ops.append(op)

    def event(self, at: float, name: str, detail: str = "") -> None:
        self.events.append(Event(at, name, detail))

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def first_event(self, name: str) -> Event | None:
        return next((e for e in self.events if e.name == name), None)

    def dump(self, path: Path) -> None:
        """One JSON object per line: the events, then the operations."""
        with path.open("w") as f:
            for e in self.events:
                f.write(json.dumps({"event": dataclasses.asdict(e)}) + "\n")
            for op in self.ops:
                f.write(json.dumps(dataclasses.asdict(op)) + "\n")

    @classmethod
    def load(cls, path: Path) -> "History":
        h = cls()
        for line in path.read_text().splitlines():
            row: dict[str, Any] = json.loads(line)
            if "event" in row:
                h.events.append(Event(**row["event"]))
            else:
                h.ops.append(Op(**row))
        return h
