"""Lua scripting (EVAL, EVALSHA, SCRIPT ...): a real Lua 5.1 runtime (lupa's
lua51 module) with Redis's `redis` library, its sandbox and its reply
conversions. See scripting/engine.py for the theory of operation."""
