"""ACL: users and their permissions (the rules live in ringcache/acl.py).

ACL SETUSER/GETUSER/DELUSER/LIST/USERS/WHOAMI/CAT/GENPASS/LOG/DRYRUN/LOAD/
SAVE, and what the rest of the node calls: `denial()` (the dispatcher, EXEC
and redis.call ask it whether a restricted user may run a command; it
writes the ACL LOG entry) and `authenticate()` (AUTH and HELLO).

A change to a user reaches its connected clients at once (they hold the
same User object, and their gate is refreshed: a user that becomes
restricted makes its sessions take the checked path). Deleting a user, or
ACL LOAD dropping it, disconnects its clients, as in Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import acl
from ..acl import AclError, User
from ..files import write_atomically
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ._admin import help_subcommand, text
from ._args import parse_int
from .registry import ACL_CATEGORIES, container, lookup, subcommand

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session
    from .registry import CommandSpec

ACL = container("acl", -2, group="server", since="6.0.0",
                summary="A container for Access List Control commands.")

_ACL_ADMIN = "admin noscript loading stale"
_ACL_PLAIN = "noscript loading stale"

NOPERM_KEY = "NOPERM this user has no permissions to access one of the keys used as arguments"
NOPERM_CHANNEL = ("NOPERM this user has no permissions to access one of the channels used "
                  "as arguments")
NOPERM_EXEC = ("NOPERM ACLs rules changed between the moment the transaction was accumulated "
               "and its execution")
NO_ACLFILE = ("ERR This Redis instance is not configured to use an ACL file. You may want to "
              "specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
              "(assuming you have a Redis configuration file set) in order to store users in "
              "the Redis configuration.")
SCRIPT_DENIALS = {
    acl.DENIED_COMMAND: "ERR The user executing the script can't run this command or subcommand",
    acl.DENIED_KEY: "ERR The user executing the script can't access at least one of the keys "
                    "mentioned in the command arguments",
    acl.DENIED_CHANNEL: "ERR The user executing the script can't publish to the channel "
                        "mentioned in the command",
}


# -- what the rest of the node calls ---------------------------------------------


def noperm(denied: int, spec: "CommandSpec") -> str:
    if denied == acl.DENIED_COMMAND:
        return f"NOPERM this user has no permissions to run the '{spec.fullname}' command"
    return NOPERM_KEY if denied == acl.DENIED_KEY else NOPERM_CHANNEL


def denial(session: "Session", spec: "CommandSpec", argv: list[bytes], context: str) -> int:
    """0 when the session's user may run the command, else the DENIED_*
    code, with an ACL LOG entry (context: toplevel, multi or lua)."""
    denied, index = session.user.check(spec, argv)
    if denied:
        obj = spec.fullname.encode() if denied == acl.DENIED_COMMAND else argv[index]
        log_denial(session, acl.REASONS[denied], context, obj, session.user.name)
    return denied


def log_denial(session: "Session", reason: str, context: str, obj: bytes, username: bytes) -> None:
    from .client import client_line

    session.server.acl.log.add(reason, context, obj, username, client_line(session))


def authenticate(session: "Session", username: bytes, password: bytes) -> None:
    """AUTH / HELLO AUTH: become `username`, or WRONGPASS (logged)."""
    user = session.server.acl.get(username)
    if user is None or not user.check_password(password):
        log_denial(session, "auth", "multi" if session.multi is not None else "toplevel",
                   b"AUTH", username)
        raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")
    session.user = user
    session.authenticated = True
    session.update_gate()
    _channel_checks(session.server, user)


def _channel_checks(server: "Server", user: User) -> None:
    dispatcher = getattr(server, "dispatcher", None)  # (none yet at start-up: it asks itself)
    if dispatcher is not None and not user.unrestricted and not user.needs_gate:
        dispatcher.check_channels()


def refresh_sessions(server: "Server", user: User) -> None:
    """A user's rules changed: its sessions take the new gate, and those
    subscribed to channels the user may no longer use are disconnected
    (Redis 7's ACLKillPubsubClientsIfNeeded)."""
    sessions = [s for s in getattr(server, "clients", {}).values() if s.user is user]
    for session in sessions:  # (none yet at start-up)
        session.update_gate()
        if session.subscriptions and not _subscriptions_allowed(server, session, user):
            if session.close is not None:
                session.close()
    if sessions or user is server.acl.default:
        _channel_checks(server, user)


def _subscriptions_allowed(server: "Server", session: "Session", user: User) -> bool:
    state = server.pubsub.clients.get(session)
    if state is None:
        return True
    selectors = (user.root, *user.selectors)
    return (all(any(s.channel_allowed(c, False) for s in selectors)
                for c in (*state.channels, *state.shard))
            and all(any(s.channel_allowed(p, True) for s in selectors) for p in state.patterns))


def disconnect_user(server: "Server", user: User) -> None:
    for session in list(server.clients.values()):
        if session.user is user and session.close is not None:
            session.close()


def apply_requirepass(server: "Server", password: str) -> None:
    """requirepass is the default user's password (Redis: `resetpass
    >password`, or `nopass` when empty)."""
    rules = ["resetpass", ">" + password] if password else ["nopass"]
    user, _ = server.acl.setuser(b"default", rules)
    refresh_sessions(server, user)


def load_users_file(server: "Server", path: str) -> dict[bytes, User]:
    """The users of an aclfile; AclError naming the file and line."""
    try:
        with open(path, "rb") as file:
            content = file.read().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise AclError(f"Error loading ACLs, opening file '{path}': {exc.strerror}") from None
    lines = list(enumerate(content.split("\n"), start=1))
    try:
        return acl.Users.parse_lines(lines, server.acl.pubsub_default)
    except AclError as exc:
        raise AclError(f"{path}:{exc.args[0]}") from None


def install_users(server: "Server", users: dict[bytes, User]) -> None:
    for gone in server.acl.replace(users):
        disconnect_user(server, gone)
    refresh_sessions(server, server.acl.default)


# -- ACL subcommands -----------------------------------------------------------------


@subcommand(ACL, "setuser", -3, _ACL_ADMIN, since="6.0.0",
            summary="Creates and modifies an ACL user and its rules.", complexity="O(N).")
def acl_setuser(session: "Session", argv: list[bytes]) -> Any:
    rules = [text(arg) for arg in argv[3:]]
    for rule in rules:
        if rule.startswith("(") and not rule.endswith(")"):
            raise CommandError(f"ERR Unmatched parenthesis in acl selector starting at '{rule}'.")
    try:
        user, existed = session.server.acl.setuser(argv[2], rules)
    except AclError as exc:
        raise CommandError(f"ERR {exc.args[0]}") from None
    if existed:
        refresh_sessions(session.server, user)
    return OK


@subcommand(ACL, "getuser", 3, _ACL_ADMIN, since="6.0.0",
            summary="Lists the ACL rules of a user.", complexity="O(N).")
def acl_getuser(session: "Session", argv: list[bytes]) -> Any:
    user = session.server.acl.get(argv[2])
    if user is None:
        return None
    root = user.root
    return {
        b"flags": [flag.encode() for flag in user.flags()],
        b"passwords": [h.encode() for h in user.passwords],
        b"commands": root.describe_commands().encode(),
        b"keys": " ".join(root.describe_keys()).encode("utf-8", "surrogateescape"),
        b"channels": " ".join(root.describe_channels()).encode("utf-8", "surrogateescape"),
        b"selectors": [
            {
                b"commands": s.describe_commands().encode(),
                b"keys": " ".join(s.describe_keys()).encode("utf-8", "surrogateescape"),
                b"channels": " ".join(s.describe_channels()).encode("utf-8", "surrogateescape"),
            }
            for s in user.selectors
        ],
    }


@subcommand(ACL, "deluser", -3, _ACL_ADMIN, since="6.0.0",
            summary="Deletes ACL users, and terminates their connections.", complexity="O(1).")
def acl_deluser(session: "Session", argv: list[bytes]) -> Any:
    users = session.server.acl
    if any(name == b"default" for name in argv[2:]):
        raise CommandError("ERR The 'default' user cannot be removed")
    deleted = 0
    for name in argv[2:]:
        user = users.users.pop(name, None)
        if user is not None:
            deleted += 1
            disconnect_user(session.server, user)
    return deleted


@subcommand(ACL, "list", 2, _ACL_ADMIN, since="6.0.0",
            summary="Dumps the effective rules in ACL file format.", complexity="O(N).")
def acl_list(session: "Session", argv: list[bytes]) -> Any:
    users = session.server.acl.users
    return [f"user {users[name].describe()}".encode("utf-8", "surrogateescape")
            for name in sorted(users)]


@subcommand(ACL, "users", 2, _ACL_ADMIN, since="6.0.0",
            summary="Lists all ACL users.", complexity="O(N).")
def acl_users(session: "Session", argv: list[bytes]) -> Any:
    return sorted(session.server.acl.users)


@subcommand(ACL, "whoami", 2, _ACL_PLAIN, since="6.0.0",
            summary="Returns the authenticated username of the current connection.",
            complexity="O(1)")
def acl_whoami(session: "Session", argv: list[bytes]) -> Any:
    return session.user.name


@subcommand(ACL, "cat", -2, _ACL_PLAIN, since="6.0.0",
            summary="Lists the ACL categories, or the commands inside a category.",
            complexity="O(1) since the categories and commands are a fixed set.")
def acl_cat(session: "Session", argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for 'cat'. "
                           "Try ACL HELP.")
    if len(argv) == 2:
        return [cat.encode() for cat in ACL_CATEGORIES]
    category = text(argv[2]).lower()
    if category not in ACL_CATEGORIES:
        raise CommandError(f"ERR Unknown category '{text(argv[2])}'")
    return [spec.fullname.encode() for spec in acl.commands_in_category(category)]


@subcommand(ACL, "genpass", -2, _ACL_PLAIN, since="6.0.0",
            summary="Generates a pseudorandom, secure password that can be used to identify ACL "
                    "users.", complexity="O(N)")
def acl_genpass(session: "Session", argv: list[bytes]) -> Any:
    bits = 256
    if len(argv) > 3:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for 'genpass'. "
                           "Try ACL HELP.")
    if len(argv) == 3:
        try:
            bits = int(argv[2])
        except ValueError:
            bits = 0
        if not 0 < bits <= 4096:
            raise CommandError("ERR ACL GENPASS argument must be the number of bits for the "
                               "output password, a positive number up to 4096")
    return acl.genpass(bits).encode()


@subcommand(ACL, "log", -2, _ACL_ADMIN, since="6.0.0",
            summary="Lists recent security events generated due to commands rejected by ACL "
                    "rules.", complexity="O(N) with N being the number of entries shown.")
def acl_log(session: "Session", argv: list[bytes]) -> Any:
    log = session.server.acl.log
    if len(argv) > 3:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for 'log'. "
                           "Try ACL HELP.")
    count = None
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            log.entries.clear()
            return OK
        count = parse_int(argv[2], "ERR value is out of range, must be positive")
        if count < 0:
            raise CommandError("ERR value is out of range, must be positive")
    return log.reply(count)


@subcommand(ACL, "dryrun", -4, _ACL_ADMIN, since="7.0.0",
            summary="Simulates the execution of a command by a user, without executing the "
                    "command.", complexity="O(1).")
def acl_dryrun(session: "Session", argv: list[bytes]) -> Any:
    user = session.server.acl.get(argv[2])
    if user is None:
        raise CommandError(f"ERR User '{text(argv[2])}' not found")
    command = argv[3:]
    spec = lookup(command[0])
    if spec is None:
        raise CommandError(f"ERR Command '{text(command[0])}' not found")
    if spec.subcommands and len(command) > 1:
        spec = spec.subcommands.get(command[1].lower(), spec)
    if not spec.check_arity(len(command)):
        raise CommandError(f"ERR wrong number of arguments for '{spec.fullname}' command")
    denied, index = user.check(spec, command)
    if not denied:
        return OK
    if denied == acl.DENIED_COMMAND:
        return f"This user has no permissions to run the '{spec.fullname}' command".encode()
    what = "key" if denied == acl.DENIED_KEY else "channel"
    return b"This user has no permissions to access the '%b' %b" % (command[index], what.encode())


@subcommand(ACL, "load", 2, _ACL_ADMIN, since="6.0.0",
            summary="Reloads the rules from the configured ACL file.", complexity="O(N).")
def acl_load(session: "Session", argv: list[bytes]) -> Any:
    server = session.server
    path = server.config["aclfile"]
    if not path:
        raise CommandError(NO_ACLFILE)
    try:
        users = load_users_file(server, path)
    except AclError as exc:  # the old users stay
        raise CommandError(f"ERR {exc.args[0]}") from None
    install_users(server, users)
    return OK


@subcommand(ACL, "save", 2, _ACL_ADMIN, since="6.0.0",
            summary="Saves the effective ACL rules in the configured ACL file.",
            complexity="O(N).")
def acl_save(session: "Session", argv: list[bytes]) -> Any:
    server = session.server
    path = server.config["aclfile"]
    if not path:
        raise CommandError(NO_ACLFILE)
    try:
        write_atomically(path, [server.acl.text().encode("utf-8", "surrogateescape")])
    except OSError:
        raise CommandError("ERR There was an error trying to save the ACLs. "
                           "Please check the server logs for more information") from None
    return OK


help_subcommand(ACL, (
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
), since="6.0.0")
