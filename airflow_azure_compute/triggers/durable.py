"""Wait for a Durable Functions orchestration to reach a terminal ``runtimeStatus``.

One pure decision per poll (`evaluate`), a small async loop on `DurableAsyncHook`, an
absolute deadline, and ``on_kill`` (a user killed the task) terminating the instance. ``cleanup()`` is
left alone: it also runs on a triggerer restart, which must not stop the orchestration.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_azure_compute.exceptions import AzureComputeError
from airflow_azure_compute.hooks.durable_api import (
    UNSUCCESSFUL,
    OrchestrationStatus,
    RuntimeStatus,
    SuspendedAction,
)

#: Consecutive polls allowed to fail (after the hook's own retries) before the trigger gives up.
MAX_POLL_ERRORS = 3
#: Consecutive polls allowed to find no instance (a start may not be visible at once).
MAX_MISSING = 3
#: Bound of on_kill's terminate call.
ON_KILL_TIMEOUT_S = 30.0


class DurableOrchestrationEvent(TypedDict, total=False):
    """The trigger's event: ``status`` plus what the operator needs to finish without another call."""

    status: Literal["success", "failed", "suspended", "timeout", "error"]
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


def evaluate(
    status: OrchestrationStatus | None,
    *,
    instance_id: str,
    on_suspended: SuspendedAction,
    deadline: float | None,
    now: float,
    missing: int = 0,
) -> DurableOrchestrationEvent | None:
    """The event to fire for one poll, or ``None`` to keep waiting."""
    if status is not None:
        rs = status.runtime_status
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


class DurableOrchestrationTrigger(BaseTrigger):
    """Poll an orchestration's status until it is terminal (or the deadline passes).

    :param instance_id: the orchestration instance id.
    :param conn_id: ``azure_compute_durable`` connection id.
    :param poll_interval: seconds between status requests.
    :param deadline: absolute epoch seconds after which a ``timeout`` event fires; ``None`` waits forever.
    :param on_suspended: a `SuspendedAction` value.
    :param terminate_on_kill: terminate the instance when a user kills the deferred task.
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
    ) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.on_suspended = SuspendedAction.parse(on_suspended, field="on_suspended")
        self.terminate_on_kill = terminate_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "instance_id": self.instance_id,
            "conn_id": self.conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "on_suspended": self.on_suspended.value,
            "terminate_on_kill": self.terminate_on_kill,
        }

    def _hook(self) -> Any:
        from airflow_azure_compute.hooks.durable import DurableAsyncHook

        return DurableAsyncHook(self.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        errors = missing = 0
        last_progress: Any = object()
        async with self._hook() as hook:
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
                )
                if event is not None:
                    yield TriggerEvent(event)
                    return
                delay = self.poll_interval
                if self.deadline is not None:
                    delay = max(0.0, min(delay, self.deadline - time.time()))
                await asyncio.sleep(delay)

    async def on_kill(self) -> None:
        """A user killed the deferred task: terminate the orchestration (if still running)."""
        if not self.terminate_on_kill:
            return
        async with self._hook() as hook:
            sent = await asyncio.wait_for(
                hook.terminate(self.instance_id, "task killed in Airflow"), ON_KILL_TIMEOUT_S
            )
        self.log.info("terminate %s on kill: %s", self.instance_id, "sent" if sent else "already terminal")


__all__ = ["DurableOrchestrationEvent", "DurableOrchestrationTrigger", "SuspendedAction", "evaluate"]
