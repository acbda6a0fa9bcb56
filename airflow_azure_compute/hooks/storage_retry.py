"""The Storage clients' retry policy: exponential backoff that honours ``Retry-After``.

The Storage SDK's default ``ExponentialRetry`` waits 15 s (±3) before its first retry and ignores the
``Retry-After`` header a throttled or busy account sends, so each 503 costs about 15 s even when the
service asked for one. This policy waits what the service asked for (capped), and otherwise backs off
from 0.8 s, doubling, with jitter. Retries stay the SDK's: same methods, same status codes, same body
rewinding.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

#: The longest pause the policy takes, whatever ``Retry-After`` says.
MAX_DELAY_S = 30.0
RETRY_TOTAL = 6


def retry_after_seconds(settings: dict[str, Any]) -> float | None:
    """``Retry-After`` (seconds) of the last retried response in the SDK's retry ``settings``."""
    history = settings.get("history") or []
    response = getattr(history[-1], "http_response", None) if history else None
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None


def backoff_seconds(settings: dict[str, Any]) -> float:
    """What the service asked for, else 0.8 s (azure-core's factor) doubling per retry, jittered by ±50 %, capped."""
    hinted = retry_after_seconds(settings)
    if hinted is not None:
        return min(hinted, MAX_DELAY_S)
    base = min(MAX_DELAY_S, 0.8 * 2.0 ** int(settings.get("count", 0)))
    return random.uniform(base * 0.5, base * 1.5)


@cache
def _policy_class(aio: bool) -> type:
    if aio:
        from azure.storage.blob.aio import ExponentialRetry
    else:
        from azure.storage.blob import ExponentialRetry  # type: ignore[assignment]

    class RetryAfterExponentialRetry(ExponentialRetry):  # type: ignore[misc,valid-type]
        def get_backoff_time(self, settings: dict[str, Any]) -> float:
            return backoff_seconds(settings)

    return RetryAfterExponentialRetry


def storage_retry_policy(*, aio: bool) -> Any:
    """A fresh retry policy for a sync or aio Storage client (``retry_policy=``)."""
    return _policy_class(aio)(retry_total=RETRY_TOTAL)


__all__ = ["backoff_seconds", "retry_after_seconds", "storage_retry_policy"]
