"""Wait for an ACI container group's containers to terminate, firing early to stream logs.

With a ``logging_interval`` the trigger fires a ``running`` event that often: the operator prints the
new log lines and defers again with the same absolute deadline (re-entry, as cncf.kubernetes does).
``on_kill`` (a user killed the deferred task) deletes or stops the group; ``cleanup()`` is left
alone because it also runs on triggerer restarts, which must not touch the group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_azure_compute.exceptions import AzureComputeError
from airflow_azure_compute.hooks.aci_groups import GroupProgress, OnKillAction, evaluate_group

MAX_POLL_ERRORS = 3
ON_KILL_TIMEOUT_S = 60.0


class ContainerGroupEvent(TypedDict, total=False):
    status: Literal["succeeded", "failed", "running", "timeout", "error"]
    group_name: str
    exit_codes: dict[str, int | None]
    summary: str
    message: str
    deadline: float | None
    log_cursors: dict[str, str]


def progress_event(name: str, progress: GroupProgress, status: str | None = None) -> ContainerGroupEvent:
    return ContainerGroupEvent(
        status=status or progress.outcome.value,  # type: ignore[typeddict-item]
        group_name=name,
        exit_codes=dict(progress.exit_codes),
        summary=progress.summary(),
        message=progress.detail,
    )


def evaluate(
    name: str,
    body: dict[str, Any] | None,
    *,
    deadline: float | None,
    now: float,
    log_due: bool,
) -> ContainerGroupEvent | None:
    """The event for one poll, or ``None`` to keep waiting."""
    if body is None:
        return ContainerGroupEvent(
            status="error", group_name=name, message=f"container group {name!r} is gone"
        )
    progress = evaluate_group(body)
    if progress.terminal:
        return progress_event(name, progress)
    if deadline is not None and now >= deadline:
        event = progress_event(name, progress, "timeout")
        event["message"] = f"container group {name!r} did not finish before the deadline"
        return event
    if log_due:
        return progress_event(name, progress, "running")
    return None


class ContainerGroupTrigger(BaseTrigger):
    """Poll a container group until its containers terminate, the deadline passes, or logs are due.

    :param group_name: container group name (in the connection's resource group).
    :param conn_id: ``azure_compute_aci`` connection id.
    :param poll_interval: seconds between GETs.
    :param deadline: absolute epoch seconds; a ``timeout`` event fires after it.
    :param logging_interval: fire a ``running`` event after this many seconds so the operator can print
        logs; ``None`` fires only at the end.
    :param on_kill_action: ``delete`` (default), ``stop`` or ``keep`` the group when the task is killed.
    :param log_cursors: the operator's log positions per container, echoed in every event (so a resumed
        task has them even where defer kwargs are not passed back, as in ``dag.test()``).
    """

    def __init__(
        self,
        *,
        group_name: str,
        conn_id: str | None = None,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        logging_interval: float | None = None,
        on_kill_action: str = OnKillAction.DELETE.value,
        log_cursors: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.group_name = group_name
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.logging_interval = None if logging_interval is None else float(logging_interval)
        self.on_kill_action = OnKillAction.parse(on_kill_action, field="on_kill_action")
        self.log_cursors = dict(log_cursors or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "group_name": self.group_name,
            "conn_id": self.conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "logging_interval": self.logging_interval,
            "on_kill_action": self.on_kill_action.value,
            "log_cursors": self.log_cursors,
        }

    def _hook(self) -> Any:
        from airflow_azure_compute.hooks.container_instances import ContainerInstancesAsyncHook

        return ContainerInstancesAsyncHook(self.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        started = time.monotonic()
        errors = 0
        async with hook.client() as client:
            while True:
                try:
                    body = await hook.get_group(client, self.group_name)
                    errors = 0
                except AzureComputeError as err:
                    errors += 1
                    self.log.warning("get %s failed (%d in a row): %s", self.group_name, errors, err)
                    if errors >= MAX_POLL_ERRORS:
                        yield TriggerEvent(
                            ContainerGroupEvent(status="error", group_name=self.group_name, message=str(err))
                        )
                        return
                    await asyncio.sleep(self.poll_interval)
                    continue
                log_due = (
                    self.logging_interval is not None and time.monotonic() - started >= self.logging_interval
                )
                event = evaluate(
                    self.group_name, body, deadline=self.deadline, now=time.time(), log_due=log_due
                )
                if event is not None:
                    yield TriggerEvent({**event, "deadline": self.deadline, "log_cursors": self.log_cursors})
                    return
                delay = self.poll_interval
                if self.deadline is not None:
                    delay = min(delay, max(0.0, self.deadline - time.time()))
                if self.logging_interval is not None:
                    delay = min(delay, max(0.0, started + self.logging_interval - time.monotonic()))
                await asyncio.sleep(delay)

    async def on_kill(self) -> None:
        """A user killed the deferred task: delete (or stop) the group."""
        if self.on_kill_action is OnKillAction.KEEP:
            return
        hook = self._hook()
        async with hook.client() as client:
            if self.on_kill_action is OnKillAction.STOP:
                await asyncio.wait_for(hook.stop_group(client, self.group_name), ON_KILL_TIMEOUT_S)
            else:
                await asyncio.wait_for(hook.delete_group(client, self.group_name), ON_KILL_TIMEOUT_S)
        self.log.info("%s container group %s on kill", self.on_kill_action.value, self.group_name)


__all__ = ["ContainerGroupEvent", "ContainerGroupTrigger", "OnKillAction", "evaluate"]
