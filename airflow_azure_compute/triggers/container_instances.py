"""Create an ACI container group (when asked), stream its logs into the task log, and wait for it.

The trigger is where a deferrable run's group is *created*: the operator validates everything and defers
with a `GroupPlan` (the ARM body with no secret in it);
the trigger reads the secrets from their connections, creates the group if it does not exist yet, and
polls. A task killed before the triggerer picked it up has therefore created nothing, and once the
trigger runs, ``on_kill`` deletes (or stops) the group. Logs are printed by the trigger itself every
``logging_interval`` (Airflow writes trigger logs to the task's log), so the task never bounces
between triggerer and worker while it waits: there is no moment at which nobody owns the group.
``cleanup()`` is left alone because it also runs on triggerer restarts, which must not touch the group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, TypedDict

from airflow.triggers.base import TriggerEvent

from airflow_azure_compute.deferral import poll_delay
from airflow_azure_compute.exceptions import AzureComputeError
from airflow_azure_compute.hooks.aci_groups import (
    GroupPlan,
    GroupProgress,
    OnKillAction,
    WaitFor,
    evaluate_group,
    new_log_lines,
)
from airflow_azure_compute.hooks.secret_refs import aresolve_secrets
from airflow_azure_compute.triggers.base import SerializableTrigger

MAX_POLL_ERRORS = 3
ON_KILL_TIMEOUT_S = 60.0
#: After deleting on kill, how long to make sure a create still in flight did not bring the group back.
ON_KILL_SETTLE_S = 5.0


class ContainerGroupEvent(TypedDict, total=False):
    status: Literal["succeeded", "failed", "running", "ready", "timeout", "error"]
    group_name: str
    exit_codes: dict[str, int | None]
    summary: str
    message: str
    deadline: float | None
    log_cursors: dict[str, str]
    ip_address: str | None


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
    wait_for: WaitFor | str = WaitFor.TERMINATED,
) -> ContainerGroupEvent | None:
    """The event for one poll, or ``None`` to keep waiting.

    With ``wait_for="running"`` (a service-like group) the event is ``ready`` as soon as every
    container is Running; a group that ends before that gives its terminal event.
    """
    if body is None:
        return ContainerGroupEvent(
            status="error", group_name=name, message=f"container group {name!r} is gone"
        )
    progress = evaluate_group(body)
    if progress.terminal:
        return progress_event(name, progress)
    if WaitFor(wait_for) is WaitFor.RUNNING and progress.ready:
        event = progress_event(name, progress, "ready")
        event["ip_address"] = ((body.get("properties") or {}).get("ipAddress") or {}).get("ip")
        return event
    if deadline is not None and now >= deadline:
        event = progress_event(name, progress, "timeout")
        event["message"] = f"container group {name!r} did not finish before the deadline"
        return event
    return None


async def ensure_group(hook: Any, client: Any, name: str, plan: GroupPlan) -> bool:
    """Create the planned group unless it exists; ``True`` if this call created it."""
    if await hook.get_group(client, name) is not None:
        return False
    await hook.create_group(client, name, await aresolve_secrets(plan))
    return True


async def delete_for_good(hook: Any, client: Any, name: str, *, settle_s: float) -> None:
    """Delete, then watch ``settle_s``: a create cancelled mid-request may still land after the delete."""
    await hook.delete_group(client, name)
    settle = time.monotonic() + settle_s
    while time.monotonic() < settle:
        await asyncio.sleep(0.5)
        if await hook.get_group(client, name) is not None:
            await hook.delete_group(client, name)


class ContainerGroupTrigger(SerializableTrigger):
    """Create a container group if asked, then poll it until it ends (or is ready), printing its logs.

    :param group_name: container group name (in the connection's resource group).
    :param conn_id: ``azure_compute_aci`` connection id.
    :param poll_interval: seconds between GETs.
    :param deadline: absolute epoch seconds; a ``timeout`` event fires after it.
    :param logging_interval: print new log lines this often (into the task log); ``None`` prints them
        once, at the end.
    :param on_kill_action: ``delete`` (default), ``stop`` or ``keep`` the group when the task is killed.
    :param log_cursors: log positions per container already printed.
    :param plan: `GroupPlan.to_dict` of the group to create when it does not exist yet.
    :param wait_for: ``terminated`` (default) or ``running`` (fire once every container runs).
    :param log_tail: at most this many lines per container per print.
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
        plan: Mapping[str, Any] | None = None,
        wait_for: str = WaitFor.TERMINATED.value,
        log_tail: int = 1000,
    ) -> None:
        super().__init__()
        self.group_name = group_name
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.logging_interval = None if logging_interval is None else float(logging_interval)
        self.on_kill_action = OnKillAction.parse(on_kill_action, field="on_kill_action")
        self.log_cursors = dict(log_cursors or {})
        self.plan = None if plan is None else GroupPlan.from_dict(plan)
        self.wait_for = WaitFor.parse(wait_for, field="wait_for")
        self.log_tail = int(log_tail)

    def _hook(self) -> Any:
        from airflow_azure_compute.hooks.container_instances import ContainerInstancesAsyncHook

        return ContainerInstancesAsyncHook(self.conn_id)

    async def _print_logs(self, hook: Any, client: Any, containers: Any) -> None:
        for container in containers:
            try:
                content = await hook.get_logs(client, self.group_name, container, tail=self.log_tail)
            except AzureComputeError as err:
                self.log.warning("logs of %s/%s unavailable: %s", self.group_name, container, err)
                continue
            lines, cursor = new_log_lines(content, self.log_cursors.get(container))
            for line in lines:
                self.log.info("[%s] %s", container, line)
            if cursor is not None:
                self.log_cursors[container] = cursor

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        errors = 0
        async with hook.client() as client:
            try:  # a triggerer restart finds the group and reattaches
                if self.plan is not None and await ensure_group(hook, client, self.group_name, self.plan):
                    self.log.info("created container group %s", self.group_name)
            except AzureComputeError as err:
                yield TriggerEvent(
                    ContainerGroupEvent(
                        status="error",
                        group_name=self.group_name,
                        message=f"create container group {self.group_name!r}: {err}",
                    )
                )
                return
            last_print = time.monotonic()
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
                containers = evaluate_group(body).exit_codes if body else {}
                event = evaluate(
                    self.group_name, body, deadline=self.deadline, now=time.time(), wait_for=self.wait_for
                )
                due = (
                    self.logging_interval is not None
                    and time.monotonic() - last_print >= self.logging_interval
                )
                if event is not None or due:
                    await self._print_logs(hook, client, containers)
                    last_print = time.monotonic()
                if event is not None:
                    yield TriggerEvent({**event, "deadline": self.deadline, "log_cursors": self.log_cursors})
                    return
                await asyncio.sleep(poll_delay(self.poll_interval, self.deadline))

    async def on_kill(self) -> None:
        """A user killed the deferred task: delete (or stop) the group, even one being created."""
        if self.on_kill_action is OnKillAction.KEEP:
            return
        hook = self._hook()
        async with hook.client() as client:
            if self.on_kill_action is OnKillAction.STOP:
                await asyncio.wait_for(hook.stop_group(client, self.group_name), ON_KILL_TIMEOUT_S)
            else:
                settle = ON_KILL_SETTLE_S if self.plan is not None else 0.0
                await asyncio.wait_for(
                    delete_for_good(hook, client, self.group_name, settle_s=settle), ON_KILL_TIMEOUT_S
                )
        self.log.info("%s container group %s on kill", self.on_kill_action.value, self.group_name)


__all__ = [
    "ContainerGroupEvent",
    "ContainerGroupTrigger",
    "OnKillAction",
    "delete_for_good",
    "ensure_group",
    "evaluate",
]
