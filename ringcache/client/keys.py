"""Stable cache keys for function calls (used by the @cached decorator).

``str(args)`` is not a key: it changes with dict order, hides the difference
between 1 and "1", and includes memory addresses for arbitrary objects. Instead
the call is bound to the function's signature (so ``f(1)``, ``f(a=1)`` and
``f()`` with default ``a=1`` give one key), and each argument is rendered
canonically: type-tagged scalars, lists/tuples in order, dicts and sets sorted by
their rendered keys. Objects may define ``__cache_key__()`` returning something
renderable; anything else is rejected with a message that names the argument.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from typing import Any, Callable, Iterable

_MAX_READABLE = 160


class UnrenderableArgument(TypeError):
    pass


def render(value: Any, where: str = "argument") -> str:
    if value is None:
        return "N"
    if value is True or value is False:
        return "T" if value else "F"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, float):
        if math.isnan(value):
            return "fnan"
        return f"f{value!r}"
    if isinstance(value, str):
        return "s" + _quote(value)
    if isinstance(value, bytes):
        return "b" + value.hex()
    if isinstance(value, (list, tuple)):
        tag = "l" if isinstance(value, list) else "t"
        return tag + "[" + ",".join(render(v, where) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted((render(k, where), render(v, where)) for k, v in value.items())
        return "d{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, (set, frozenset)):
        return "S{" + ",".join(sorted(render(v, where) for v in value)) + "}"
    hook = getattr(value, "__cache_key__", None)
    if callable(hook):
        return f"o{type(value).__qualname__}(" + render(hook(), where) + ")"
    raise UnrenderableArgument(
        f"cannot build a cache key from {where} of type {type(value).__qualname__}: only None, bool, "
        "int, float, str, bytes, and lists/tuples/dicts/sets of them are rendered; give the type a "
        "__cache_key__() method, pass key=... to @cached, or list the argument in ignore=...")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname``, made unique where the name alone is not.

    Lambdas all share the qualname ``<lambda>``, and functions defined inside
    another function (``make.<locals>.f``) share theirs across the closures made:
    both get ``@<line>.<code hash>`` appended, from the code object (so the name
    is the same in every process running the same code, and two lambdas on one
    line differ by their code). A named function whose ``module.qualname`` was
    already taken in this process by a function with *different* code (a
    redefinition, two classes of one name) gets the same suffix; see
    :func:`register_name`.
    """
    name = f"{fn.__module__}.{fn.__qualname__}"
    if "<lambda>" in name or "<locals>" in name:
        name += _code_suffix(fn)
    return name


def _code_suffix(fn: Callable[..., Any]) -> str:
    """``@<line>.<hash>`` of the code and of the closure's values: two closures
    made by one factory share their code but not their captured values. A
    captured value that cannot be rendered (an object, a function) makes the
    name this process's own (``~<id>``): no sharing across processes, but no
    wrong sharing either (pass ``name=`` to @cached to choose)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    material = code.co_code + repr(code.co_consts).encode("utf-8", "surrogatepass") \
        + repr(code.co_names).encode()
    suffix = ""
    closure = getattr(fn, "__closure__", None) or ()
    if closure:
        try:
            material += render([cell.cell_contents for cell in closure]).encode("utf-8", "surrogatepass")
        except (UnrenderableArgument, ValueError):  # ValueError: an empty cell
            suffix = f"~{id(fn):x}"
    return f"@{code.co_firstlineno}.{hashlib.sha256(material).hexdigest()[:8]}{suffix}"


_NAMES: dict[str, str] = {}  # name -> code suffix of the function that took it first


def register_name(fn: Callable[..., Any]) -> str:
    """The key name of a decorated function, unique in this process (see
    :func:`function_name`). The same code decorated twice (a module reloaded, a
    notebook cell run again) keeps its name and its entries."""
    name = function_name(fn)
    suffix = _code_suffix(fn)
    owner = _NAMES.setdefault(name, suffix)
    if owner != suffix:
        name += suffix  # another function holds the name: this one differs by its code
    return name


def call_key(fn: Callable[..., Any], signature: inspect.Signature, args: tuple[Any, ...],
             kwargs: dict[str, Any], ignore: Iterable[str] = (), fn_name: str | None = None) -> str:
    """``fn:<fn_name>:<rendered arguments>`` (hashed when long); ``fn_name``
    defaults to :func:`function_name`."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    skip = set(ignore)
    parts = []
    for name, value in bound.arguments.items():
        if name in skip:
            continue
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            for k in sorted(value):
                parts.append(f"{k}={render(value[k], f'argument {k!r}')}")
        else:
            parts.append(f"{name}={render(value, f'argument {name!r}')}")
    rendered = ",".join(parts)
    if len(rendered) > _MAX_READABLE:
        rendered = "h" + hashlib.sha256(rendered.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"fn:{fn_name or function_name(fn)}:{rendered}"
