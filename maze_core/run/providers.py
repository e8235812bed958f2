"""Calls to a rate-limited provider (a model API): how many may run at once, and backing off.

A provider serves so many calls at a time. When many invocations share it, the order in
which their calls get through should be the scheduler's (which invocation is oldest, which
has least work left), not the provider's queue: so a call to a provider is a task holding
one unit of that provider's limit, a custom resource declared once on the runtime
(``LocalRuntime(limits={"openai": 8})``; on Ray, a custom resource of the cluster's nodes),
and the scheduler starts it when a unit is free, in priority order.

A provider that is overloaded anyway answers 429 (or 529/503). The call then gives its unit
back, waits (the provider's ``Retry-After`` when it says one, else an exponential backoff
with jitter) and queues again, up to ``ATTEMPTS`` times; the last error is raised as it is.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["ATTEMPTS", "backoff", "overloaded"]

ATTEMPTS = 6  # tries of an overloaded call, the first included
OVERLOADED = frozenset({429, 503, 529})
FIRST_WAIT_S = 0.5
MAX_WAIT_S = 20.0


def overloaded(error: BaseException) -> bool:
    """Whether ``error`` says the provider is overloaded (an HTTP 429, 503 or 529, as the
    OpenAI, Anthropic and httpx clients report it, or a ``RateLimitError``)."""
    for holder in (error, getattr(error, "response", None)):
        status = getattr(holder, "status_code", None) or getattr(holder, "status", None)
        if isinstance(status, int) and status in OVERLOADED:
            return True
    return any("RateLimit" in cls.__name__ for cls in type(error).__mro__)


def backoff(error: BaseException, attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1): what the
    provider asked for in ``Retry-After``, else ``FIRST_WAIT_S`` doubling, with jitter so
    that calls refused together do not come back together."""
    asked = _retry_after(error)
    if asked is not None:
        return min(asked, MAX_WAIT_S)
    wait = min(FIRST_WAIT_S * 2.0 ** (attempt - 1), MAX_WAIT_S)
    return wait * random.uniform(0.5, 1.0)


def _retry_after(error: BaseException) -> float | None:
    headers: Any = getattr(getattr(error, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("retry-after")
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError, AttributeError):
        return None
