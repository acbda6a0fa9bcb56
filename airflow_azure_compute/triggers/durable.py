"""Wait for a Durable Functions orchestration to reach a terminal ``runtimeStatus``.

One pure decision per poll (`evaluate`), a small async loop on `DurableAsyncHook`, an
absolute deadline, and ``on_kill`` (a user killed the task) terminating the instance. ``cleanup()`` is
left alone: it also runs on a triggerer restart, which must not stop the orchestration.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, TypedDict

from airflow.triggers.base import TriggerEvent

from airflow_azure_compute.deferral import poll_delay
from airflow_azure_compute.exceptions import AzureComputeError, AzureComputeRemoteError
from airflow_azure_compute.hooks.durable_api import (
    UNSUCCESSFUL,
    OrchestrationStatus,
    RuntimeStatus,
    SuspendedAction,
)
from airflow_azure_compute.triggers.base import SerializableTrigger

#: Consecutive polls allowed to fail (after the hook's own retries) before the trigger gives up.
MAX_POLL_ERRORS = 3
#: Consecutive polls allowed to find no instance (a start may not be visible at once).
MAX_MISSING = 3
#: Bound of on_kill's terminate call.
ON_KILL_TIMEOUT_S = 30.0
#: How long on_kill keeps looking for an instance whose start was in flight when the task was killed.
ON_KILL_SETTLE_S = 5.0


class DurableOrchestrationEvent(TypedDict, total=False):
    """The trigger's event: ``status`` plus what the operator needs to finish without another call."""

    status: Literal["success", "custom_status", "failed", "suspended", "timeout", "error"]
    instance_id: str
    runtime_status: str
    output: Any
    custom_status: Any
    message: str


def status_event(status: OrchestrationStatus, kind: str, message: str = "") -> DurableOrchestrationEvent:
    return DurableOrchestrationEvent(
        status=kind,  # type: ignore[typeddict-item]
        instance_id=status.instance_id,
        runtime_status=status.runtime_status.value,
        output=status.output,
        custom_status=status.custom_status,
        message=message,
    )


def custom_status_matches(actual: Any, expected: Any) -> bool:
    """Whether ``customStatus`` ``actual`` is what a task waits for.

    A mapping matches when each of its keys has the same value in ``actual`` (``{"stage": "merge"}``
    matches ``{"stage": "merge", "done": 3}``); anything else matches by equality.
    """
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and custom_status_matches(actual[key], value) for key, value in expected.items()
        )
    return bool(actual == expected)


def evaluate(
    status: OrchestrationStatus | None,
    *,
    instance_id: str,
    on_suspended: SuspendedAction,
    deadline: float | None,
    now: float,
    missing: int = 0,
    until_custom_status: Any = None,
) -> DurableOrchestrationEvent | None:
    """The event to fire for one poll, or ``None`` to keep waiting.

    With ``until_custom_status`` the wait ends as soon as ``customStatus`` matches it
    (`custom_status_matches`); an instance that ends without matching fails the wait.
    """
    if status is not None:
        rs = status.runtime_status
        if until_custom_status is not None:
            if custom_status_matches(status.custom_status, until_custom_status):
                return status_event(status, "custom_status")
            if status.is_terminal:
                return status_event(
                    status,
                    "failed",
                    f"orchestration {instance_id!r} ended {rs.value} before its customStatus matched "
                    f"{progress_text(until_custom_status)}",
                )
        if rs is RuntimeStatus.COMPLETED:
            return status_event(status, "success")
        if rs in UNSUCCESSFUL:
            return status_event(status, "failed", f"orchestration {instance_id!r} ended {rs.value}")
        if rs is RuntimeStatus.SUSPENDED and on_suspended is SuspendedAction.FAIL:
            return status_event(status, "suspended", f"orchestration {instance_id!r} is Suspended")
    elif missing >= MAX_MISSING:
        return DurableOrchestrationEvent(
            status="error", instance_id=instance_id, message=f"orchestration {instance_id!r} does not exist"
        )
    if deadline is not None and now >= deadline:
        event = (
            status_event(status, "timeout")
            if status is not None
            else DurableOrchestrationEvent(status="timeout", instance_id=instance_id)
        )
        event["message"] = f"orchestration {instance_id!r} did not finish before the deadline"
        return event
    return None


def progress_text(custom_status: Any) -> str:
    """customStatus as one log line."""
    text = custom_status if isinstance(custom_status, str) else json.dumps(custom_status, default=str)
    return text[:2000]


class DurableOrchestrationTrigger(SerializableTrigger):
    """Poll an orchestration's status until it is terminal (or the deadline passes).

    :param instance_id: the orchestration instance id.
    :param conn_id: ``azure_compute_durable`` connection id.
    :param poll_interval: seconds between status requests.
    :param deadline: absolute epoch seconds after which a ``timeout`` event fires; ``None`` waits forever.
    :param on_suspended: a `SuspendedAction` value.
    :param terminate_on_kill: terminate the instance when a user kills the deferred task.
    :param start: ``{"orchestrator", "input", "route"}``: start the instance (or reattach to it) before
        waiting, so that a task killed before the triggerer picked it up has started nothing.
    :param until_custom_status: fire once ``customStatus`` matches this (see `custom_status_matches`).
    """

    def __init__(
        self,
        *,
        instance_id: str,
        conn_id: str | None = None,
        poll_interval: float = 5.0,
        deadline: float | None = None,
        on_suspended: str = SuspendedAction.WAIT.value,
        terminate_on_kill: bool = True,
        start: Mapping[str, Any] | None = None,
        until_custom_status: Any = None,
    ) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.on_suspended = SuspendedAction.parse(on_suspended, field="on_suspended")
        self.terminate_on_kill = terminate_on_kill
        self.start = None if start is None else dict(start)
        self.until_custom_status = until_custom_status

    def _hook(self) -> Any:
        from airflow_azure_compute.hooks.durable import DurableAsyncHook

        return DurableAsyncHook(self.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        errors = missing = 0
        last_progress: Any = object()
        async with self._hook() as hook:
            if self.start is not None:
                try:
                    started = await hook.start(
                        self.start["orchestrator"],
                        instance_id=self.instance_id,
                        input=self.start.get("input"),
                        route=self.start.get("route"),
                    )
                except AzureComputeError as err:
                    yield TriggerEvent(
                        DurableOrchestrationEvent(
                            status="error", instance_id=self.instance_id, message=f"start: {err}"
                        )
                    )
                    return
                self.log.info(
                    "%s orchestration %s (%s)",
                    "reattached to" if started.reattached else "started",
                    self.instance_id,
                    self.start["orchestrator"],
                )
            while True:
                try:
                    status: OrchestrationStatus | None = await hook.get_status(self.instance_id)
                    errors = 0
                except AzureComputeError as err:
                    errors += 1
                    self.log.warning("status of %s failed (%d in a row): %s", self.instance_id, errors, err)
                    if errors >= MAX_POLL_ERRORS:
                        yield TriggerEvent(
                            DurableOrchestrationEvent(
                                status="error", instance_id=self.instance_id, message=str(err)
                            )
                        )
                        return
                    await asyncio.sleep(self.poll_interval)
                    continue
                missing = missing + 1 if status is None else 0
                if status is not None and status.custom_status != last_progress:
                    last_progress = status.custom_status
                    if status.custom_status is not None:
                        self.log.info(
                            "%s progress: %s", self.instance_id, progress_text(status.custom_status)
                        )
                if (
                    status is not None
                    and status.runtime_status is RuntimeStatus.SUSPENDED
                    and self.on_suspended is SuspendedAction.RESUME
                ):
                    self.log.info("%s is Suspended; resuming it", self.instance_id)
                    await hook.resume(self.instance_id)
                event = evaluate(
                    status,
                    instance_id=self.instance_id,
                    on_suspended=self.on_suspended,
                    deadline=self.deadline,
                    now=time.time(),
                    missing=missing,
                    until_custom_status=self.until_custom_status,
                )
                if event is not None:
                    yield TriggerEvent(event)
                    return
                await asyncio.sleep(poll_delay(self.poll_interval, self.deadline))

    async def on_kill(self) -> None:
        """A user killed the deferred task: terminate the orchestration (if still running)."""
        if not self.terminate_on_kill:
            return
        async with self._hook() as hook:
            sent = await asyncio.wait_for(self._terminate(hook), ON_KILL_TIMEOUT_S)
        self.log.info("terminate %s on kill: %s", self.instance_id, "sent" if sent else "already terminal")

    async def _terminate(self, hook: Any) -> bool:
        """Terminate; a start this trigger sent just before being cancelled may not be visible at once."""
        settle = time.monotonic() + (ON_KILL_SETTLE_S if self.start is not None else 0.0)
        while True:
            try:
                return bool(await hook.terminate(self.instance_id, "task killed in Airflow"))
            except AzureComputeRemoteError as err:
                if err.status != 404:
                    raise
                if time.monotonic() >= settle:
                    return False  # never started: nothing to terminate
            await asyncio.sleep(0.5)


__all__ = [
    "DurableOrchestrationEvent",
    "DurableOrchestrationTrigger",
    "SuspendedAction",
    "custom_status_matches",
    "evaluate",
]
