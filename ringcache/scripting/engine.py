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
from dataclasses import dataclass
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
local py_call, py_pcall, py_error_text, py_sha1, py_log, py_setresp, py_setrepl, py_type, py_tick, py_register, libs = ...
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

-- Function libraries (FUNCTION LOAD): the library's chunk runs once, with
-- a `redis` that offers only register_function and log (Redis 7.0: any
-- other field is "nonexistent global variable"); its functions then run
-- with the whole `redis` table. One environment for both, switched by
-- `loading`, so helpers the library defines see the same globals.
local loading = false
local load_redis = setmetatable({
  register_function = py_register,
  log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
}, {__index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
local function_env = setmetatable({}, {
  __index = function(_, k)
    if k == 'redis' and loading then return load_redis end
    local v = base[k]
    if v == nil or k == 'KEYS' or k == 'ARGV' then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})

local function compile_library(body)
  local f, msg = loadstring(body, '@user_function')
  if not f then return nil, msg end
  setfenv(f, function_env)
  return f, false
end

local active = false  -- inside the script (not its error handler, not run())

local function handler(err)
  active = false
  local info
  for level = 2, 30 do
    local i = dbg.getinfo(level, 'Sl')
    if i == nil then break end
    if i.source == '@user_script' or i.source == '@user_function' then info = i break end
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

local function load_library(f)
  loading = true
  local ok, value = xpcall(f, handler)
  loading = false
  return ok, value
end

local function run_function(callback, keys, args)
  dbg.sethook(tick, '', 100000)
  active = true
  local ok, value = xpcall(function() return callback(keys, args) end, handler)
  active = false
  dbg.sethook()
  return ok, value
end

return compile, run, compile_library, load_library, run_function
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
        # lowercase hex sha1 -> (compiled function, shebang flags or None)
        self.scripts: dict[bytes, tuple[Any, frozenset[str] | None]] = {}
        # FUNCTION libraries by name, and every function by name -> (its library, it)
        self.libraries: dict[bytes, Library] = {}
        self.functions: dict[bytes, tuple[Library, Function]] = {}
        self._registering: dict[bytes, Function] | None = None  # while FUNCTION LOAD runs
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
        (self._compile, self._run, self._compile_library, self._load_library,
         self._run_function) = lua.execute(_SETUP, self._call, self._pcall, _error_text,
                                               _sha1, _log, self._setresp, self._setrepl,
                                               _lua_type, self._tick,
                                               self._register_function, libs)

    # -- the script cache ---------------------------------------------------

    def load(self, body: bytes) -> bytes:
        """SCRIPT LOAD / EVAL: compile and cache; returns the sha1."""
        sha = hashlib.sha1(body).hexdigest().encode()
        if sha not in self.scripts:
            self.scripts[sha] = self.compile(body)
        return sha

    def compile(self, body: bytes) -> tuple[Any, frozenset[str] | None]:
        """(the compiled script, its shebang flags or None without a shebang)."""
        flags = None
        if body.startswith(b"#!"):
            flags, body = _script_shebang(body)
        function, message = self._compile(body)
        if function is None:
            raise CommandError("ERR Error compiling script (new function): "
                               + message.decode("utf-8", "replace"))
        return function, flags

    def exists(self, sha: bytes) -> bool:
        return sha.lower() in self.scripts

    def flush(self) -> None:
        """SCRIPT FLUSH: a new Lua state; the function libraries are loaded
        into it again (they are not scripts)."""
        self.scripts.clear()
        libraries = list(self.libraries.values())
        self.libraries.clear()
        self.functions.clear()
        self._reset_runtime()
        for library in libraries:
            self.load_library(library.code, replace=False)

    # -- running --------------------------------------------------------------

    def run(self, session: Session, sha: bytes, keys: list[bytes], args: list[bytes],
            read_only: bool) -> Any:
        """EVAL / EVALSHA (and the _RO forms) of a cached script."""
        entry = self.scripts.get(sha.lower())
        if entry is None:
            raise CommandError(NOSCRIPT)
        function, flags = entry
        no_writes = read_only
        if flags is not None:  # a shebang script declares whether it writes
            if read_only and "no-writes" not in flags:
                raise CommandError(WRITE_FLAG_RO)
            no_writes = "no-writes" in flags
        return self._execute(session, self._run, function, keys, args, no_writes,
                             sha.lower().decode())

    def call_function(self, session: Session, name: bytes, keys: list[bytes], args: list[bytes],
                      read_only: bool) -> Any:
        """FCALL / FCALL_RO."""
        entry = self.functions.get(name)
        if entry is None:
            raise CommandError("ERR Function not found")
        function = entry[1]
        no_writes = "no-writes" in function.flags
        if read_only and not no_writes:
            raise CommandError(WRITE_FLAG_RO)
        return self._execute(session, self._run_function, function.callback, keys, args, no_writes,
                             name.decode("utf-8", "replace"))

    def _execute(self, session: Session, runner: Any, function: Any, keys: list[bytes],
                 args: list[bytes], read_only: bool, name: str) -> Any:
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
            ok, value = runner(function, self.lua.table_from(keys), self.lua.table_from(args))
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
            raise CommandError(_script_error(value, name))
        return self.to_reply(value)

    # -- function libraries ------------------------------------------------------

    def load_library(self, code: bytes, replace: bool) -> bytes:
        """FUNCTION LOAD: run the library's chunk, which registers its
        functions; all or nothing. Returns the library's name."""
        name, body = _library_shebang(code)
        old = self.libraries.get(name)
        if old is not None and not replace:
            raise CommandError(f"ERR Library '{name.decode('utf-8', 'replace')}' already exists")
        chunk, message = self._compile_library(body)
        if chunk is None:
            raise CommandError("ERR Error compiling function: " + message.decode("utf-8", "replace"))
        self._registering = {}
        try:
            ok, value = self._load_library(chunk)
            registered, self._registering = self._registering, None
        finally:
            self._registering = None
        if not ok:
            err = value[b"err"] if value is not None else None
            text = err.decode("utf-8", "replace") if err.__class__ is bytes else "ERR unknown error"
            raise CommandError("ERR Error registering functions: " + text)
        if not registered:
            raise CommandError("ERR No functions registered")
        for fname in registered:
            owner = self.functions.get(fname)
            if owner is not None and owner[0] is not old:
                raise CommandError(f"ERR Function {fname.decode('utf-8', 'replace')} already exists")
        if old is not None:
            self._drop_library(old)
        library = Library(name, code, registered)
        self.libraries[name] = library
        for fname, function in registered.items():
            self.functions[fname] = (library, function)
        return name

    def restore_libraries(self, codes: list[bytes], policy: str) -> None:
        """FUNCTION RESTORE: all the libraries or none (policy: append,
        replace or flush)."""
        saved_libraries, saved_functions = dict(self.libraries), dict(self.functions)
        try:
            if policy == "flush":
                self.flush_libraries()
            for code in codes:
                name, _ = _library_shebang(code)
                if policy == "append" and name in self.libraries:
                    raise CommandError(f"ERR Library {name.decode('utf-8', 'replace')} already exists")
                self.load_library(code, replace=policy == "replace")
        except CommandError:
            self.libraries, self.functions = saved_libraries, saved_functions
            raise

    def delete_library(self, name: bytes) -> None:
        library = self.libraries.get(name)
        if library is None:
            raise CommandError("ERR Library not found")
        self._drop_library(library)

    def flush_libraries(self) -> None:
        self.libraries.clear()
        self.functions.clear()

    def _drop_library(self, library: Library) -> None:
        del self.libraries[library.name]
        for fname in library.functions:
            self.functions.pop(fname, None)

    def _register_function(self, *args: Any) -> None:
        """redis.register_function(name, callback) or ({function_name=,
        callback=, flags=, description=}), while a library loads."""
        registering = self._registering
        if registering is None:
            raise CallError(b"ERR redis.register_function can only be called on FUNCTION LOAD command")
        description = None
        flags: list[str] = []
        if len(args) == 1 and self.table_type(args[0]) == b"table":
            spec = args[0]
            name, callback = spec[b"function_name"], spec[b"callback"]
            description = spec[b"description"]
            flag_table = spec[b"flags"]
            if flag_table is not None:
                if self.table_type(flag_table) != b"table":
                    raise CallError(b"ERR flags argument to redis.register_function must be a table "
                                    b"representing function flags")
                for flag in flag_table.values():
                    text = flag.decode() if flag.__class__ is bytes else ""
                    if text not in FUNCTION_FLAGS:
                        raise CallError(b"ERR unknown flag given")
                    flags.append(text)
            if description is not None and description.__class__ is not bytes:
                raise CallError(b"ERR description argument given to redis.register_function "
                                b"must be a string")
        elif len(args) == 2:
            name, callback = args
        else:
            raise CallError(b"ERR wrong number of arguments to redis.register_function")
        if name.__class__ is not bytes:
            raise CallError(b"ERR function_name argument given to redis.register_function "
                            b"must be a string")
        if self.table_type(callback) != b"function":
            raise CallError(b"ERR callback argument given to redis.register_function must be "
                            b"a function")
        if not _valid_name(name):
            raise CallError(b"ERR Library names can only contain letters, numbers, or "
                            b"underscores(_) and must be at least one character long")
        if name in registering:
            raise CallError(b"ERR Function already exists in the library")
        registering[name] = Function(name, callback, tuple(flags), description)

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
        if not session.user.unrestricted:  # the script runs with its caller's permissions
            from ..commands.acl import SCRIPT_DENIALS, denial

            denied = denial(session, spec, argv, "lua")
            if denied:
                raise CommandError(SCRIPT_DENIALS[denied])
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


WRITE_FLAG_RO = "ERR Can not execute a script with write flag using *_ro command."
SCRIPT_FLAGS = frozenset({"no-writes", "allow-oom", "allow-stale", "no-cluster",
                          "allow-cross-slot-keys"})
FUNCTION_FLAGS = SCRIPT_FLAGS


@dataclass
class Function:
    name: bytes
    callback: Any  # the Lua function
    flags: tuple[str, ...]
    description: bytes | None


@dataclass
class Library:
    name: bytes
    code: bytes
    functions: dict[bytes, Function]


def _valid_name(name: bytes) -> bool:
    return bool(name) and all(c == 95 or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122
                              for c in name)


def _first_line(body: bytes) -> tuple[bytes, bytes]:
    """The shebang line, and the body with that line emptied (so that line
    numbers in errors stay those of the text the client sent)."""
    end = body.find(b"\n")
    if end < 0:
        return body, b""
    return body[:end], body[end:]


def _script_shebang(body: bytes) -> tuple[frozenset[str], bytes]:
    """`#!lua flags=no-writes,allow-oom` (evalExtractShebangFlags)."""
    line, rest = _first_line(body)
    parts = line.split(b" ")
    if parts[0] != b"#!lua":
        raise CommandError("ERR Unexpected engine in script shebang: "
                           + parts[0].decode("utf-8", "replace"))
    flags = set()
    for part in parts[1:]:
        if not part:
            continue
        if not part.startswith(b"flags="):
            raise CommandError("ERR Unknown lua shebang option: " + part.decode("utf-8", "replace"))
        for flag in part[6:].split(b","):
            if not flag:
                continue
            text = flag.decode("utf-8", "replace")
            if text not in SCRIPT_FLAGS:
                raise CommandError("ERR Unexpected flag in script shebang: " + text)
            flags.add(text)
    return frozenset(flags), rest


def _library_shebang(code: bytes) -> tuple[bytes, bytes]:
    """`#!lua name=mylib` (functionExtractLibMetaData): (name, body)."""
    if not code.startswith(b"#!"):
        raise CommandError("ERR Missing library metadata")
    line, rest = _first_line(code)
    parts = line.split(b" ")
    if parts[0] != b"#!lua":
        raise CommandError("ERR Engine '" + parts[0][2:].decode("utf-8", "replace") + "' not found")
    name = None
    for part in parts[1:]:
        if not part:
            continue
        if part.startswith(b"name="):
            name = part[5:]
        else:
            raise CommandError("ERR Invalid metadata value given: " + part.decode("utf-8", "replace"))
    if name is None:
        raise CommandError("ERR Library name was not given")
    if not _valid_name(name):
        raise CommandError("ERR Library names can only contain letters, numbers, or underscores(_) "
                           "and must be at least one character long")
    return name, rest


def _script_error(value: Any, name: str) -> str:
    """Redis 7's error for a script that raised: "<err> script: <sha>, on <source>:<line>."."""
    err = value[b"err"] if value is not None else None
    text = err.decode("utf-8", "replace") if err.__class__ is bytes else "ERR unknown error"
    source = value[b"source"] if value is not None else None
    line = value[b"line"] if value is not None else None
    if source.__class__ is bytes:
        return f"{text} script: {name}, on {source.decode()}:{line}."
    return f"{text} script: {name}, on ?:0."


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
