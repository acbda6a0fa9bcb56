"""Non-idempotent calls made safe to retry: retry transient failures, then reconcile by deterministic id.

The SDKs do not retry a POST whose response was lost (a reset or timeout after the request left), and
a create that did reach the service answers its retry with ``...Exists``. Every create, terminate, stop
and delete of the provider's hooks goes through `retry_call` / `aretry_call`:

* a transient failure (429, 5xx, reset, timeout, no response) is retried with jittered backoff, honouring
  ``Retry-After`` when the service sent one, up to ``attempts`` tries;
* when an earlier try may have landed (its response was lost), the result of the retry is passed to
  ``reconcile``: for a create that now finds the resource existing, the hook reads it back by its
  deterministic id and accepts it as its own creation when it carries this run's marks (metadata or
  the same definition), or raises `AzureComputeConflictError`
  when something else holds the id. Terminate, stop and delete already treat "gone" and "already
  ending" as done, so they need no reconcile step.

`RetryPlan` holds the decision, shared by the sync and async drivers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_azure_compute.exceptions import AzureComputeConflictError, AzureComputeRemoteError

T = TypeVar("T")

#: HTTP statuses worth another try.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Tries of one call (the first included), and the longest pause between two.
DEFAULT_ATTEMPTS = 6
MAX_DELAY_S = 30.0


def _status(err: BaseException) -> int | None:
    status = getattr(err, "status_code", None)
    if status is None:
        status = getattr(err, "status", None)
    return status if isinstance(status, int) else None


def is_transient(err: BaseException) -> bool:
    """Throttling, unavailability, a dropped connection or a timeout: worth retrying.

    Looks through the provider's own errors to the SDK error they were raised from.
    """
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    current: BaseException | None = err
    while current is not None:
        if isinstance(current, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
            return True
        if isinstance(current, AzureComputeRemoteError) and current.code == "ConnectionError":
            return True
        status = _status(current)
        if status is not None:
            return status in RETRYABLE_STATUS
        current = current.__cause__
    return False


def retry_after(err: BaseException) -> float | None:
    """Seconds from the ``Retry-After`` header of the error's response, when it has one."""
    current: BaseException | None = err
    while current is not None:
        response = getattr(current, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None:
            value = headers.get("Retry-After") or headers.get("retry-after")
            try:
                return max(float(value), 0.0) if value is not None else None
            except (TypeError, ValueError):
                return None
        current = current.__cause__
    return None


def lost_response(err: BaseException) -> bool:
    """The request may have reached the service although no answer came back."""
    from azure.core.exceptions import ServiceRequestError

    current: BaseException | None = err
    while current is not None:
        if isinstance(current, ServiceRequestError):  # never left: nothing can have landed
            return False
        current = current.__cause__
    return True  # a reset, a timeout or a 5xx: it may have been applied


@dataclass
class RetryPlan:
    """The retry decisions of one call: how long to wait after an error, and whether to reconcile."""

    operation: str
    attempts: int = DEFAULT_ATTEMPTS
    base_delay: float = 0.5
    tries: int = 0
    maybe_landed: bool = False

    def after_error(self, err: BaseException) -> float:
        """The pause before the next try; re-raises ``err`` when it is not transient or tries are spent."""
        self.tries += 1
        if not is_transient(err) or self.tries >= self.attempts:
            raise err
        self.maybe_landed = self.maybe_landed or lost_response(err)
        hinted = retry_after(err)
        if hinted is not None:
            return min(hinted, MAX_DELAY_S)
        return random.uniform(0, min(MAX_DELAY_S, self.base_delay * 2**self.tries))


def retry_call(
    operation: str,
    call: Callable[[], T],
    *,
    reconcile: Callable[[T], T] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
) -> T:
    """``call()`` retried on transient errors; ``reconcile(result)`` when an earlier try may have landed."""
    plan = RetryPlan(operation, attempts)
    while True:
        try:
            result = call()
        except Exception as err:
            time.sleep(plan.after_error(err))
            continue
        return reconcile(result) if plan.maybe_landed and reconcile is not None else result


async def aretry_call(
    operation: str,
    call: Callable[[], Awaitable[T]],
    *,
    reconcile: Callable[[T], Awaitable[T]] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
) -> T:
    """The async twin of `retry_call` (same `RetryPlan`)."""
    plan = RetryPlan(operation, attempts)
    while True:
        try:
            result = await call()
        except Exception as err:
            await asyncio.sleep(plan.after_error(err))
            continue
        return await reconcile(result) if plan.maybe_landed and reconcile is not None else result


def _metadata(items: Any) -> dict[str, str]:
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    return {str(i.get("name")): str(i.get("value")) for i in items or () if isinstance(i, Mapping)}


def is_ours(existing: Mapping[str, Any] | None, body: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    """``existing`` (read back by id) is what ``body`` created: every metadata item of the body is on
    it, and every field in ``keys`` that the body sets has the same value."""
    if existing is None:
        return False
    mine = _metadata(body.get("metadata"))
    theirs = _metadata(existing.get("metadata"))
    if any(theirs.get(k) != v for k, v in mine.items()):
        return False
    return all(existing.get(k) == body[k] for k in keys if k in body and k in existing)


def confirm_created(
    kind: str,
    resource_id: str,
    existing: Mapping[str, Any] | None,
    body: Mapping[str, Any],
    keys: tuple[str, ...],
) -> bool:
    """After a lost create response found the id taken: True when it is ours, else a conflict error."""
    if is_ours(existing, body, keys):
        return True
    raise AzureComputeConflictError(
        f"{kind} {resource_id!r} exists but was not created by this request (its metadata or definition "
        f"differ): another run or user holds the id; delete it or choose another id",
        code=f"{kind.capitalize()}Conflict",
        status=409,
    )


__all__ = [
    "RETRYABLE_STATUS",
    "RetryPlan",
    "aretry_call",
    "confirm_created",
    "is_ours",
    "is_transient",
    "lost_response",
    "retry_after",
    "retry_call",
]
