"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP (Redis's config.c).

The configuration itself (names, types, validation, the file grammar,
REWRITE) is ringcache.config; these handlers only turn arguments into text
and back. CONFIG SET goes through `config.set_many`, all or nothing, and
the owners of each setting follow it through their `on_change` callbacks.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..config import ConfigError
from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ._admin import ADMIN_FLAGS, help_subcommand, protected_action_allowed, text, to_bytes
from .registry import all_specs, container, subcommand

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session

log = logging.getLogger("ringcache")

CONFIG = container("config", -2, group="server", since="2.0.0",
                   summary="A container for server configuration commands.")


@subcommand(CONFIG, "get", -3, ADMIN_FLAGS, since="2.0.0",
            summary="Returns the effective values of configuration parameters.",
            complexity="O(N) when N is the number of configuration parameters provided")
def config_get(session: Session, argv: list[bytes]) -> dict[bytes, bytes]:
    pairs = session.server.config.match_many([text(arg) for arg in argv[2:]])
    return {to_bytes(name): to_bytes(value) for name, value in pairs}


@subcommand(CONFIG, "set", -4, ADMIN_FLAGS, since="2.0.0",
            tips="request_policy:all_nodes response_policy:all_succeeded",
            summary="Sets configuration parameters in-flight.",
            complexity="O(N) when N is the number of configuration parameters provided")
def config_set(session: Session, argv: list[bytes]) -> Any:
    if len(argv) % 2:  # name value pairs
        raise CommandError(errors.SYNTAX)
    pairs = [(text(argv[i]), text(argv[i + 1])) for i in range(2, len(argv), 2)]
    try:
        allowed = protected_action_allowed(session.server.config["enable-protected-configs"], session)
        session.server.config.set_many(pairs, protected_allowed=allowed)
    except ConfigError as exc:
        raise CommandError(exc.message) from None
    return OK


def reset_stats(server: Server) -> None:
    """CONFIG RESETSTAT: server counters, every command's counters, the
    dispatcher's totals and the memory peak (Redis's resetServerStats)."""
    server.stats.reset()
    server.dispatcher.settle_counts()  # (else counts from before would land after the reset)
    for spec in all_specs():
        spec.calls = spec.rejected_calls = spec.failed_calls = 0
        spec.time_s = 0.0
    # total_commands is the sum of the per-command counters reset above.
    server.dispatcher.total_errors = 0
    server.peak_memory = 0


@subcommand(CONFIG, "resetstat", 2, ADMIN_FLAGS, since="2.0.0",
            tips="request_policy:all_nodes response_policy:all_succeeded",
            summary="Resets the server's statistics.", complexity="O(1)")
def config_resetstat(session: Session, argv: list[bytes]) -> Any:
    reset_stats(session.server)
    return OK


@subcommand(CONFIG, "rewrite", 2, ADMIN_FLAGS, since="2.8.0",
            tips="request_policy:all_nodes response_policy:all_succeeded",
            summary="Persists the effective configuration to file.", complexity="O(1)")
def config_rewrite(session: Session, argv: list[bytes]) -> Any:
    try:
        session.server.config.rewrite()
    except ConfigError as exc:
        log.warning("CONFIG REWRITE failed: %s", exc.reason)
        raise CommandError(exc.message) from None
    log.info("CONFIG REWRITE executed with success.")
    return OK


_CONFIG_HELP = (
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
)


help_subcommand(CONFIG, _CONFIG_HELP, since="5.0.0")


