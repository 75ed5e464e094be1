"""LATENCY (latency.c) over the dispatcher's latency monitor
(server/latency.py), and LOLWUT.

LATENCY LATEST, HISTORY, RESET, DOCTOR and HELP answer as Redis 7;
GRAPH and HISTOGRAM are not there (they answer Redis's unknown-subcommand
error). LOLWUT answers as Redis 7 does without VERSION 5 or 6 (whose
drawings are random): "Redis ver. <version>".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import REDIS_VERSION
from ..protocol.resp import Verbatim
from ._admin import help_subcommand
from ._args import parse_int
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..server.session import Session

LATENCY = container("latency", -2, group="server", since="2.8.13",
                    summary="A container for latency diagnostics commands.",
                    complexity="Depends on subcommand.")
_FLAGS = "admin noscript loading stale"
_TIPS = "nondeterministic_output request_policy:all_nodes response_policy:special"


def _monitor(session: Session) -> Any:
    return session.server.dispatcher.latency


@subcommand(LATENCY, "reset", -2, _FLAGS, since="2.8.13",
            tips="request_policy:all_nodes response_policy:all_succeeded",
            summary="Reset latency data for one or more events.", complexity="O(1)")
def latency_reset(session: Session, argv: list[bytes]) -> Any:
    events = [arg.decode("utf-8", "surrogateescape") for arg in argv[2:]] or None
    return _monitor(session).reset(events)


@subcommand(LATENCY, "doctor", 2, _FLAGS, since="2.8.13", tips=_TIPS,
            summary="Return a human readable latency analysis report.", complexity="O(1)")
def latency_doctor(session: Session, argv: list[bytes]) -> Any:
    config = session.server.config
    report = _monitor(session).doctor(config["slowlog-log-slower-than"], config["slowlog-max-len"])
    return Verbatim(report.encode())


@subcommand(LATENCY, "latest", 2, _FLAGS, since="2.8.13", tips=_TIPS,
            summary="Return the latest latency samples for all events.", complexity="O(1)")
def latency_latest(session: Session, argv: list[bytes]) -> Any:
    out = []
    for event, series in _monitor(session).events.items():
        when, latency = series.latest()
        out.append([event.encode("utf-8", "surrogateescape"), when, latency, series.max])
    return out


@subcommand(LATENCY, "history", 3, _FLAGS, since="2.8.13", tips=_TIPS,
            summary="Return timestamp-latency samples for the event.", complexity="O(1)")
def latency_history(session: Session, argv: list[bytes]) -> Any:
    series = _monitor(session).events.get(argv[2].decode("utf-8", "surrogateescape"))
    return [] if series is None else [list(sample) for sample in series.history()]


_HELP = (
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified "
    "command names.",
    "    If no commands are specified then all histograms are replied.",
)

help_subcommand(LATENCY, _HELP, since="2.8.13",
                summary="Show helpful text about the different subcommands.")


@command("lolwut", -1, "readonly fast", group="server", since="5.0.0",
         summary="Displays computer art and the Redis version")
def lolwut(session: Session, argv: list[bytes]) -> Any:
    if len(argv) >= 3 and argv[1].lower() == b"version":
        parse_int(argv[2])  # (a bad number is refused as Redis does)
    return Verbatim(b"Redis ver. %s\n" % REDIS_VERSION.encode())
