"""Features of a call, for the duration predictor: cheap, numeric, and never raising.

From the arguments: the length of strings and bytes, an estimate of tokens in text (4
characters a token, as tokenizers of English average), the size of lists, tuples, sets and
dicts, numbers as they are, and the size on disk of ``os.PathLike`` arguments. Names are
``<argument>.len``, ``<argument>.tokens``, ``<argument>.size``, ``<argument>`` and
``<argument>.bytes``. The tool's own ``features=`` callable adds its names as they are.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["MAX_FEATURES", "call_features", "clean", "number", "value_features"]

log = logging.getLogger("maze")
MAX_FEATURES = 64  # a model per tool stays small and fast; extra features are dropped


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None: not a number, not finite, or an int too large
    for a float (which is dropped with a warning: it would otherwise fail the task's end)."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float):
        return None
    try:
        as_float = float(value)
    except OverflowError:
        log.warning(
            "maze: a feature value too large for a float was dropped (%d digits)", len(str(value))
        )
        return None
    return as_float if math.isfinite(as_float) else None


def value_features(name: str, value: Any, out: dict[str, float]) -> None:
    """Add the features of one argument value to ``out``."""
    if value is None:
        return
    if isinstance(value, bool | int | float):
        found = number(value)
        if found is not None:
            out[name] = found
    elif isinstance(value, str):
        out[f"{name}.len"] = float(len(value))
        out[f"{name}.tokens"] = len(value) / 4.0
    elif isinstance(value, bytes | bytearray | memoryview):
        out[f"{name}.len"] = float(len(value))
    elif isinstance(value, list | tuple | set | frozenset | dict):
        out[f"{name}.size"] = float(len(value))
    elif isinstance(value, os.PathLike):
        with contextlib.suppress(OSError):
            out[f"{name}.bytes"] = float(os.stat(value).st_size)


def call_features(
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    extra: Callable[..., Mapping[str, float]] | None = None,
    names: Sequence[str] = (),
) -> dict[str, float]:
    """The features of one call: its arguments', plus ``extra(*args, **kwargs)`` if given.

    Positional arguments are named after the tool's parameters (``names``, in order), else
    ``arg0``, ``arg1`` ... A failing ``extra`` is logged and ignored: features never fail a task.
    """
    out: dict[str, float] = {}
    for index, value in enumerate(args):
        value_features(names[index] if index < len(names) else f"arg{index}", value, out)
    for name, value in kwargs.items():
        value_features(name, value, out)
    if extra is not None:
        try:
            out.update(clean(extra(*args, **kwargs)))
        except Exception:
            log.warning("maze: the features= callable failed; predicting without it", exc_info=True)
    return out if len(out) <= MAX_FEATURES else dict(list(out.items())[:MAX_FEATURES])


def clean(features: Any) -> dict[str, float]:
    """Only the finite numeric entries of a mapping (anything else is dropped)."""
    if not isinstance(features, Mapping):
        return {}
    out = {}
    for key, value in features.items():
        found = number(value)
        if found is not None:
            out[str(key)] = found
    return out
