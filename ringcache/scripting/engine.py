"""The Lua engine behind EVAL and friends: one Lua 5.1 state per node.

Theory of operation
-------------------
One `lupa.lua51.LuaRuntime` lives as long as the node (or until SCRIPT
FLUSH). At start a setup chunk (`_SETUP`, below) builds, inside Lua:

* the sandbox: the script environment `env` is an empty table whose
  metatable reads from `base`, a copy of the globals a script may use (no
  os, io, require, loadfile, dofile, debug, print, package, module, setfenv,
  getfenv, newproxy: Redis 7.0's list). Reading an unknown global is
  Redis's "Script attempted to access nonexistent global variable 'x'";
  writing any global is "Attempt to modify a readonly table" (what
  redis-server 7.0.15 answers: its globals table is read-only). Each
  compiled script gets `env` as its environment (setfenv), so KEYS and ARGV
  are set in `base` before each run.
* the `redis` table: call/pcall go to Python (`Engine._call`), which runs
  the command through the dispatcher's `call()` (so stats, SLOWLOG,
  keyspace notifications, tracking and the write stream see it) and
  converts the reply to Lua. redis.call raises the error as a table
  {err=...}; Redis 7.0's `pcall(redis.call, ...)` hands the script the
  error as a string, so the sandbox's pcall unwraps it the same way.
* `run(f)`: runs a compiled script under xpcall with an error handler that
  finds the script's own frame (source "@user_script" and line) for
  Redis's "... script: <sha>, on @user_script:<line>." suffix.

Python never raises through Lua: callbacks return (error, value) pairs and
Lua raises. The node is single-threaded and a script runs to its end inside
one command, so scripts are atomic; their writes reach the write stream as
the commands they ran (effects replication), one MULTI ... EXEC unit when
there is more than one (WriteStream.begin_transaction / end_transaction).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

from lupa import lua51  # type: ignore[import-untyped]

from ..protocol.errors import CommandError

from ..protocol.resp import NULL_ARRAY, Push, Raw, SimpleString, Verbatim, format_double
from .libs import LibError, install

if TYPE_CHECKING:
    from ..server.session import Session

log = logging.getLogger("ringcache")

NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE = ("UNKILLABLE Sorry the script already executed write commands against the dataset. "
              "You can either wait the script termination or kill the server in a hard way using "
              "the SHUTDOWN NOSAVE command.")

# The Lua side: built once per runtime; returns the functions Python uses.
_SETUP = r"""
local py_call, py_pcall, py_error_text, py_sha1, py_log, py_setresp, py_setrepl, py_type, py_tick, libs = ...
local G = _G
local setfenv, loadstring, xpcall, type, error, select = setfenv, loadstring, xpcall, type, error, select
local setmetatable, getmetatable, unpack, tostring = setmetatable, getmetatable, unpack, tostring
local dbg = debug

local base = {}
for _, name in ipairs({'assert', 'collectgarbage', 'error', 'gcinfo', 'getmetatable', 'ipairs',
    'load', 'loadstring', 'next', 'pairs', 'pcall', 'rawequal', 'rawget', 'rawset', 'select',
    'setmetatable', 'tonumber', 'tostring', 'type', 'unpack', 'xpcall', '_VERSION',
    'coroutine', 'math', 'string', 'table'}) do
  base[name] = G[name]
end
for name, lib in pairs(libs) do base[name] = lib end

-- redis.call and redis.pcall are the Python callables themselves, so they
-- are C calls for Lua: a `return redis.call(...)` keeps the script's frame
-- (a Lua wrapper would be a tail call and lose the line for the error).
-- redis.call raises a Python CallError; Redis 7.0's pcall hands the script
-- its text as a string, and the error handler takes it as a table's err.
local raw_pcall = pcall
local function unwrap(ok, ...)
  if not ok and type((...)) == 'userdata' then
    local text = py_error_text((...))
    if text then return false, text end
  end
  return ok, ...
end
base.pcall = function(f, ...) return unwrap(raw_pcall(f, ...)) end

local redis = {}
redis.call = py_call
redis.pcall = py_pcall
redis.error_reply = function(msg)
  if type(msg) ~= 'string' then return {err = 'wrong number or type of arguments'} end
  if msg:sub(1, 1) == '-' then msg = msg:sub(2) end
  return {err = msg}
end
redis.status_reply = function(msg)
  if type(msg) ~= 'string' then return {err = 'wrong number or type of arguments'} end
  return {ok = msg}
end
redis.sha1hex = function(s)
  if type(s) ~= 'string' and type(s) ~= 'number' then error('wrong number of arguments', 2) end
  return py_sha1(tostring(s))
end
redis.log = function(level, ...)
  if select('#', ...) == 0 then error('redis.log() requires two arguments or more.', 2) end
  if type(level) ~= 'number' then error('First argument must be a number (log level).', 2) end
  local parts = {}
  for i = 1, select('#', ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  py_log(level, table.concat(parts, ' '))
end
redis.setresp = py_setresp
redis.set_repl = py_setrepl
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
base.redis = redis

-- The Python callables (redis.call, the libraries' functions) are userdata
-- to Lua; `type` (in Python, so a C call that keeps the script's line for
-- its error) calls them functions, as they are in Redis.
base.type = py_type

local env = setmetatable({}, {
  __index = function(_, k)
    local v = base[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})
base._G = env

local function compile(body)
  local f, msg = loadstring(body, '@user_script')
  if not f then return nil, msg end
  setfenv(f, env)
  return f, false
end

local active = false  -- inside the script (not its error handler, not run())

local function handler(err)
  active = false
  local info
  for level = 2, 30 do
    local i = dbg.getinfo(level, 'Sl')
    if i == nil then break end
    if i.source == '@user_script' then info = i break end
  end
  local e = {}
  local text, is_lib
  if type(err) == 'userdata' then text, is_lib = py_error_text(err) end
  if text and is_lib then
    -- a library's luaL_error: positioned at the script's line
    if info then text = info.source:sub(2) .. ':' .. info.currentline .. ': ' .. text end
    e.err = 'ERR ' .. text
  elseif text then e.err = text
  elseif type(err) == 'table' then e.err = err.err
  else e.err = 'ERR ' .. tostring(err) end
  if info then e.source = info.source; e.line = info.currentline end
  return e
end

-- Every 100000 instructions (Redis's count) the hook asks Python whether
-- the script is past busy-reply-threshold (then Python serves the other
-- clients -BUSY) and whether SCRIPT KILL asked it to stop; once killed it
-- fires on every instruction, so that a pcall cannot swallow the kill.
local killed = {err = 'ERR Script killed by user with SCRIPT KILL...'}
local function tick()
  if active and py_tick() then
    dbg.sethook(tick, '', 1)
    error(killed)
  end
end

local function run(f, keys, argv)
  base.KEYS, base.ARGV = keys, argv
  dbg.sethook(tick, '', 100000)
  active = true
  local ok, value = xpcall(f, handler)
  active = false
  dbg.sethook()
  base.KEYS, base.ARGV = nil, nil
  return ok, value
end

return compile, run
"""


class CallError(Exception):
    """redis.call's error, raised into Lua (the script sees its text)."""

    def __init__(self, text: bytes) -> None:
        super().__init__(text)
        self.text = text


def _error_text(err: Any) -> tuple[bytes | None, bool]:
    """(text, whether a library raised it) for a Python exception that
    reached Lua: redis.call's CallError, a library's LibError, else a bug."""
    if isinstance(err, CallError):
        return err.text, False
    if isinstance(err, LibError):
        return err.text, True
    if isinstance(err, BaseException):
        log.error("a script library failed", exc_info=err)
        return b"internal error: " + type(err).__name__.encode(), True
    return None, False


class Engine:
    """The node's Lua state, its script cache and the running script's state."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.scripts: dict[bytes, Any] = {}  # lowercase hex sha1 -> compiled function
        self.bodies: dict[bytes, bytes] = {}
        self._reset_runtime()
        # The running script: its session, whether it is read-only, the
        # RESP version its redis.call replies convert from (redis.setresp),
        # whether its writes are replicated (redis.set_repl).
        self.session: Session | None = None
        self.read_only = False
        self.resp = 2
        self.running = False
        self.started = 0.0  # time.monotonic() when it started
        self.timed_out = False  # past busy-reply-threshold: the node answers -BUSY
        self.wrote = False  # it ran a write command: SCRIPT KILL cannot stop it
        self.kill_requested = False

    def _reset_runtime(self) -> None:
        lua = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True, register_eval=False,
                               register_builtins=False,
                               attribute_filter=_deny_attributes)
        self.lua = lua
        self.table_type = lua.eval("type")
        libs = lua.table()
        install(lua, libs)
        self._compile, self._run = lua.execute(_SETUP, self._call, self._pcall, _error_text,
                                               _sha1, _log, self._setresp, self._setrepl,
                                               _lua_type, self._tick, libs)

    # -- the script cache ---------------------------------------------------

    def load(self, body: bytes) -> bytes:
        """SCRIPT LOAD / EVAL: compile and cache; returns the sha1."""
        sha = hashlib.sha1(body).hexdigest().encode()
        if sha not in self.scripts:
            self.scripts[sha] = self.compile(body)
            self.bodies[sha] = body
        return sha

    def compile(self, body: bytes) -> Any:
        function, message = self._compile(body)
        if function is None:
            raise CommandError("ERR Error compiling script (new function): "
                               + message.decode("utf-8", "replace"))
        return function

    def exists(self, sha: bytes) -> bool:
        return sha.lower() in self.scripts

    def flush(self) -> None:
        self.scripts.clear()
        self.bodies.clear()
        self._reset_runtime()

    # -- running --------------------------------------------------------------

    def run(self, session: Session, sha: bytes, keys: list[bytes], args: list[bytes],
            read_only: bool) -> Any:
        function = self.scripts.get(sha.lower())
        if function is None:
            raise CommandError(NOSCRIPT)
        dispatcher = self.server.dispatcher
        stream = self.server.write_stream
        # Effects replication: the commands the script ran, one unit
        # (inside EXEC, the transaction's unit already collects them).
        own_unit = dispatcher.propagating and not stream.in_transaction
        if own_unit:
            stream.begin_transaction()
        self.session, self.read_only, self.resp, self.running = session, read_only, 2, True
        self.started, self.timed_out, self.wrote, self.kill_requested = time.monotonic(), False, False, False
        saved_db, saved_index, saved_protocol = session.db, session.db_index, session.protocol
        saved_propagating = dispatcher.propagating
        try:
            ok, value = self._run(function, self.lua.table_from(keys), self.lua.table_from(args))
        finally:
            self.session, self.running = None, False
            if self.timed_out:
                dispatcher.leave_busy()
                self.timed_out = False
            session.db, session.db_index, session.protocol = saved_db, saved_index, saved_protocol
            dispatcher.propagating = saved_propagating
            if own_unit:
                stream.end_transaction(wrap_single=False)
        if not ok:
            raise CommandError(_script_error(value, sha.lower()))
        return self.to_reply(value)

    # -- redis.call ----------------------------------------------------------

    def _call(self, *args: Any) -> Any:
        """redis.call: the reply in Lua, or a CallError raised into Lua."""
        try:
            return self._call_checked(args)
        except CommandError as exc:
            raise CallError(exc.message.encode()) from None
        except Exception as exc:  # a bug here must not take the node down
            log.error("redis.call failed", exc_info=exc)
            raise CallError(b"ERR internal error in redis.call: "
                            + type(exc).__name__.encode()) from None

    def _pcall(self, *args: Any) -> Any:
        """redis.pcall: the reply in Lua, an error as {err=...}."""
        try:
            return self._call(*args)
        except CallError as exc:
            return self.lua.table_from({b"err": exc.text})

    def _call_checked(self, args: tuple) -> Any:
        from ..commands.registry import lookup

        if not args:
            raise CommandError("ERR Please specify at least one argument for this redis lib call")
        argv = []
        for arg in args:
            if arg.__class__ is bytes:
                argv.append(arg)
            elif arg.__class__ is int or arg.__class__ is float:
                argv.append(_lua_number(arg))
            else:
                raise CommandError("ERR Lua redis lib command arguments must be strings or integers")
        session = self.session
        assert session is not None
        spec = lookup(argv[0])
        if spec is None:
            raise CommandError("ERR Unknown Redis command called from script")
        if not spec.check_arity(len(argv)):
            raise CommandError("ERR Wrong number of args calling Redis command from script")
        if spec.subcommands and len(argv) > 1:
            sub = spec.subcommands.get(argv[1].lower())
            if sub is None:
                raise CommandError("ERR Unknown Redis command called from script")
            if not sub.check_arity(len(argv)):
                raise CommandError("ERR Wrong number of args calling Redis command from script")
            spec = sub
        if "noscript" in spec.flags or (spec.parent and "noscript" in spec.parent.flags):
            raise CommandError("ERR This Redis command is not allowed from script")
        if spec.is_write and self.read_only:
            raise CommandError("ERR Write commands are not allowed from read-only scripts.")
        if spec.is_write:
            self.wrote = True
        session.protocol = self.resp  # the replies the script asked for (redis.setresp)
        reply = self.server.dispatcher.call(session, spec, argv)
        if isinstance(reply, CommandError):
            raise reply
        return self.to_lua(reply)

    def _tick(self) -> bool:
        """The instruction-count hook: past busy-reply-threshold, serve the
        other clients (-BUSY, SCRIPT KILL); True when the script must stop."""
        if self.kill_requested:
            return True
        if not self.timed_out:
            elapsed_ms = (time.monotonic() - self.started) * 1000
            if elapsed_ms < self.server.config["busy-reply-threshold"]:
                return False
            self.timed_out = True
            log.warning("Slow script detected: still in execution after %d milliseconds. "
                        "You can try killing the script using the SCRIPT KILL command.",
                        int(elapsed_ms))
            self.server.dispatcher.enter_busy()
        assert self.session is not None
        self.server.serve_while_busy(self.session)
        # SHUTDOWN NOSAVE (allowed while busy) stops even a script that
        # wrote: the node is going away.
        return self.kill_requested or self.server.shut_down

    def kill(self) -> None:
        """SCRIPT KILL (it arrives only while a script is past the threshold)."""
        if not self.running:
            raise CommandError(NOTBUSY)
        if self.wrote:
            raise CommandError(UNKILLABLE)
        self.kill_requested = True

    def _setresp(self, version: Any = None, *_: Any) -> None:
        if version not in (2, 3) or version.__class__ not in (int, float):
            raise CallError(b"RESP version must be 2 or 3.")
        self.resp = int(version)

    def _setrepl(self, flags: Any = None, *_: Any) -> None:
        if flags not in (0, 1, 2, 3) or flags.__class__ not in (int, float):
            raise CallError(b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL "
                            b"or REPL_NONE.")
        # One write stream feeds the AOF and the replicas alike: REPL_NONE
        # stops the script's later writes reaching it, any other value
        # restores it (no per-sink choice yet).
        dispatcher = self.server.dispatcher
        dispatcher.propagating = bool(flags) and self.server.write_stream.active

    # -- conversions -----------------------------------------------------------

    def to_lua(self, reply: Any) -> Any:
        """A command's reply as the script sees it (Redis's redisProtocolToLuaType)."""
        klass = reply.__class__
        if klass is bytes or klass is Verbatim and self.resp == 2:
            return bytes(reply)
        if klass is int:
            return reply
        if klass is SimpleString:
            return self.lua.table_from({b"ok": bytes(reply)})
        if reply is None or reply is NULL_ARRAY:
            return None if self.resp == 3 else False
        if klass is Raw or isinstance(reply, Raw):
            return self.to_lua(_decode_raw(reply))
        if isinstance(reply, CommandError):
            return self.lua.table_from({b"err": reply.message.encode()})
        if klass is bool:
            return reply if self.resp == 3 else int(reply)
        if klass is float:
            if self.resp == 3:
                return self.lua.table_from({b"double": reply})
            return format_double(reply)
        if isinstance(reply, dict):
            if self.resp == 3:
                inner = self.lua.table()
                for k, v in reply.items():
                    inner[self.to_lua(k)] = self.to_lua(v)
                return self.lua.table_from({b"map": inner})
            flat = []
            for k, v in reply.items():
                flat.append(self.to_lua(k))
                flat.append(self.to_lua(v))
            return self.lua.table_from(flat)
        if isinstance(reply, (set, frozenset)):
            if self.resp == 3:
                inner = self.lua.table()
                for member in reply:
                    inner[self.to_lua(member)] = True
                return self.lua.table_from({b"set": inner})
            return self.lua.table_from([self.to_lua(m) for m in reply])
        if isinstance(reply, Verbatim):
            return self.lua.table_from({b"verbatim_string": self.lua.table_from(
                {b"format": b"txt", b"string": bytes(reply)})})
        if isinstance(reply, (list, tuple, Push)):
            table = self.lua.table()
            for i, item in enumerate(reply, 1):
                table[i] = self.to_lua(item)
            return table
        if isinstance(reply, bytes):
            return bytes(reply)
        return False

    def to_reply(self, value: Any) -> Any:
        """A script's result as a reply (Redis's luaReplyToRedisReply)."""
        if value is None or value is False:
            return None
        if value is True:
            return 1
        klass = value.__class__
        if klass is bytes:
            return value
        if klass is int:
            return value
        if klass is float:
            return _truncate(value)
        if self.table_type(value) != b"table":
            return None
        err = value[b"err"]
        if err.__class__ is bytes:
            return CommandError(err.decode("utf-8", "replace"))
        ok = value[b"ok"]
        if ok.__class__ is bytes:
            return SimpleString(ok)
        double = value[b"double"]
        if double is not None:
            return float(double) if double.__class__ in (int, float) else []
        big = value[b"big_number"]
        if big.__class__ is bytes:
            return big
        mapping = value[b"map"]
        if mapping is not None and self.table_type(mapping) == b"table":
            return {self.to_reply(k): self.to_reply(v) for k, v in mapping.items()}
        members = value[b"set"]
        if members is not None and self.table_type(members) == b"table":
            return {self.to_reply(k) for k in members.keys()}
        out: list[Any] = []
        i = 1
        while True:
            item = value[i]
            if item is None:
                return out
            out.append(self.to_reply(item))
            i += 1


def _script_error(value: Any, sha: bytes) -> str:
    """Redis 7's error for a script that raised: "<err> script: <sha>, on <source>:<line>."."""
    err = value[b"err"] if value is not None else None
    text = err.decode("utf-8", "replace") if err.__class__ is bytes else "ERR unknown error"
    source = value[b"source"] if value is not None else None
    line = value[b"line"] if value is not None else None
    if source.__class__ is bytes:
        return f"{text} script: {sha.decode()}, on {source.decode()}:{line}."
    return f"{text} script: {sha.decode()}, on ?:0."


def _lua_number(value: float) -> bytes:
    """A Lua number as redis.call passes it: "%.17g" (1 -> "1", 0.1 -> "0.10000000000000001")."""
    if value.__class__ is int:
        return b"%d" % value
    return (b"%.17g" % value)


def _truncate(value: float) -> int:
    """Lua number -> integer reply: C's (long long) cast truncates."""
    if value != value or value in (float("inf"), float("-inf")):
        return -(2**63)
    return int(value)


def _decode_raw(raw: bytes) -> Any:
    """The few pre-encoded replies (+OK, :1, ...) commands return."""
    if not raw:
        return None
    kind, body = raw[:1], raw[1:-2]
    if kind == b"+":
        return SimpleString(body)
    if kind == b":":
        return int(body)
    if kind == b"-":
        return CommandError(body.decode())
    if kind == b"$":
        length = int(body.split(b"\r\n", 1)[0])
        return None if length < 0 else body.split(b"\r\n", 1)[1]
    return None


_LUA_TYPES = {
    "NoneType": b"nil", "bool": b"boolean", "int": b"number", "float": b"number", "bytes": b"string",
}


def _lua_type(*args: Any) -> bytes:
    """Lua's type(), seeing the Python callables as functions."""
    if not args:
        raise LibError("bad argument #1 to 'type' (value expected)")
    value = args[0]
    name = _LUA_TYPES.get(value.__class__.__name__)
    if name is not None:
        return name
    kind = lua51.lua_type(value)
    if kind is not None:
        return kind.encode()
    return b"function" if callable(value) else b"userdata"


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).hexdigest().encode()


_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.WARNING)


def _log(level: Any, message: bytes) -> None:
    if level in (0, 1, 2, 3):
        log.log(_LOG_LEVELS[int(level)], "%s", message.decode("utf-8", "replace"))


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    """Scripts never reach Python objects' attributes (the sandbox)."""
    raise AttributeError("access denied")
