"""JSON schema of a function's arguments, from its type hints and its docstring.

Tools are described to agents and to the predictor by this schema, so it follows what
LLM tool-calling APIs accept: an ``object`` with ``properties``, ``required`` and a
``description`` per argument taken from Google-style ``Args:`` or Sphinx ``:param x:``
docstrings. Unknown annotations degrade to ``{}`` (any value), never to an error.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import inspect
import os
import re
import types
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["describe", "json_schema", "type_schema"]

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    bytes: {"type": "string", "contentEncoding": "base64"},
    type(None): {"type": "null"},
    os.PathLike: {"type": "string", "format": "path"},
}

_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$"
)
_GOOGLE_ARG = re.compile(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_ARG = re.compile(r"^\s*:param\s+(?:\S+\s+)?(\w+)\s*:\s*(.*)$")


def type_schema(annotation: Any) -> dict[str, Any]:
    """The JSON schema of one annotation (``{}`` when it has no JSON meaning)."""
    if annotation in _SCALARS:
        return dict(_SCALARS[annotation])
    if isinstance(annotation, type) and issubclass(annotation, os.PathLike):
        return dict(_SCALARS[os.PathLike])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"enum": [member.value for member in annotation]}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Annotated:
        return type_schema(args[0])
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(arg) for arg in args]}
    if origin is tuple and args and args[-1] is not Ellipsis:
        items = [type_schema(arg) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
    if (isinstance(origin, type) and issubclass(origin, Mapping)) or annotation is dict:
        return {
            "type": "object",
            **({"additionalProperties": type_schema(args[1])} if args else {}),
        }
    if _is_sequence(origin) or annotation in (list, tuple, set, frozenset):
        return {"type": "array", **({"items": type_schema(args[0])} if args else {})}
    return {}


def _is_sequence(origin: Any) -> bool:
    return isinstance(origin, type) and issubclass(origin, (Sequence, set, frozenset))


def describe(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The summary of a docstring and the description of each argument it documents."""
    lines = inspect.cleandoc(fn.__doc__ or "").splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section, current = "", ""
    for line in lines:
        if heading := _SECTION.match(line):
            section, current = heading.group(1), ""
            continue
        if sphinx := _SPHINX_ARG.match(line):
            current = sphinx.group(1)
            params[current] = sphinx.group(2).strip()
        elif section in ("Args", "Arguments", "Parameters") and (google := _GOOGLE_ARG.match(line)):
            current = google.group(1).lstrip("*")
            params[current] = google.group(2).strip()
        elif current and line.strip() and line.startswith((" ", "\t")):
            params[current] = f"{params[current]} {line.strip()}".strip()
        elif not section and not params:
            summary.append(line)
    return "\n".join(summary).strip(), params


_SCHEMAS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def json_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema (an ``object``) of the arguments ``fn`` can be called with: worked
    out once while ``fn`` lives (a node distributed by an adapter is a spec of the same
    function, made per node: resolving its hints cost ~0.1 ms each time), a copy each time
    (a spec's schema is its own to change)."""
    try:
        return copy.deepcopy(_SCHEMAS[fn])
    except (KeyError, TypeError):  # not seen yet, or not weak-referenceable (builtins)
        pass
    schema = _json_schema(fn)
    with contextlib.suppress(TypeError):
        _SCHEMAS[fn] = copy.deepcopy(schema)
    return schema


def _json_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: describe what we can
        hints = {}
    _, docs = describe(fn)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        prop = type_schema(hints.get(name, Any))
        if name in docs:
            prop["description"] = docs[name]
        if param.default is param.empty:
            required.append(name)
        elif _is_json(param.default):
            prop["default"] = param.default
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": required}


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
