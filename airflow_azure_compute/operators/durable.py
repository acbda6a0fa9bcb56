"""Durable Functions operators: start (or reattach to) an orchestration, raise events, lifecycle actions
(suspend, resume, rewind, restart, terminate), purge (one instance, or every instance a DAG run created).

Waiting is shared with `DurableOrchestrationSensor`
through `DurableWaiter`: one poll decision (the trigger's pure ``evaluate``), one trigger, one
way to turn the final event into an XCom value or an error, and the purge policy applied in ``finally``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_azure_compute.cleanup import CleanupPolicy, should_delete
from airflow_azure_compute.deferral import deadline_after, default_deferrable
from airflow_azure_compute.deprecations import renamed_argument
from airflow_azure_compute.exceptions import (
    AzureComputeError,
    AzureComputeRemoteError,
    DeadlineExceededError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.hooks.durable_api import (
    InstanceAction,
    RuntimeStatus,
    SuspendedAction,
    check_action_allowed,
    encode_input,
    validate_instance_id,
)
from airflow_azure_compute.ids import derive_run_id, run_prefix, run_scope
from airflow_azure_compute.lineage import LineageMixin
from airflow_azure_compute.links import DurableInstanceLink, durable_app_fields

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.durable import DurableHook
    from airflow_azure_compute.triggers.durable import DurableOrchestrationEvent, DurableOrchestrationTrigger


def _preview(value: Any, limit: int = 1000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def outcome(event: Mapping[str, Any]) -> Any:
    """The orchestration output for a success event; raise the matching provider error otherwise."""
    status = event.get("status")
    instance_id = event.get("instance_id")
    if status == "success":
        return event.get("output")
    if status == "custom_status":
        return event.get("custom_status")
    runtime = event.get("runtime_status")
    details = []
    if event.get("output") is not None:
        details.append(f"output: {_preview(event['output'])}")
    if event.get("custom_status") is not None:
        details.append(f"customStatus: {_preview(event['custom_status'])}")
    message = (event.get("message") or f"orchestration {instance_id!r}: {status}") + (
        "; " + "; ".join(details) if details else ""
    )
    if status in ("failed", "suspended"):
        raise RemoteWorkFailedError(message, code=runtime)
    if status == "timeout":
        raise DeadlineExceededError(message, code=runtime)
    raise AzureComputeRemoteError(message, code=runtime)


@dataclass
class DurableWaiter:
    """How a task waits for an orchestration; the shared half of the start operator and the sensor.

    :param azure_conn_id: ``azure_compute_durable`` connection id.
    :param poll_interval: seconds between status requests.
    :param on_suspended: ``wait`` (default), ``fail`` or ``resume`` when the instance is Suspended.
    :param terminate_on_kill: terminate the orchestration when the task is killed (or times out).
    :param cleanup: purge the instance history after the wait: ``keep`` (default), ``delete`` or
        ``delete_on_success``.
    :param until_custom_status: end the wait as soon as ``customStatus`` matches this (a mapping matches
        by its keys, e.g. ``{"stage": "merge"}``), returning the customStatus; an instance that ends
        before matching fails the wait.
    """

    azure_conn_id: str | None
    poll_interval: float
    on_suspended: SuspendedAction
    terminate_on_kill: bool
    cleanup: CleanupPolicy
    until_custom_status: Any = None

    def check(
        self, hook: DurableHook, instance_id: str, deadline: float | None, log: Any, *, missing: int = 0
    ) -> tuple[DurableOrchestrationEvent | None, int]:
        """One poll: the event to finish with (or ``None``), and the count of polls that found no instance."""
        # The trigger module (and airflow.triggers.base) is loaded only when a task runs, not at DAG parsing.
        from airflow_azure_compute.triggers.durable import evaluate, progress_text

        status = hook.get_status(instance_id)
        if status is not None and status.custom_status is not None:
            log.info("%s progress: %s", instance_id, progress_text(status.custom_status))
        if (
            status is not None
            and status.runtime_status is RuntimeStatus.SUSPENDED
            and self.on_suspended is SuspendedAction.RESUME
        ):
            hook.resume(instance_id)
        missing = 0 if status is not None else missing + 1
        event = evaluate(
            status,
            instance_id=instance_id,
            on_suspended=self.on_suspended,
            deadline=deadline,
            now=time.time(),
            missing=missing,
            until_custom_status=self.until_custom_status,
        )
        return event, missing

    def poll_until_done(
        self, hook: DurableHook, instance_id: str, deadline: float | None, log: Any
    ) -> DurableOrchestrationEvent:
        """The non-deferrable wait: poll on the worker until an event."""
        event, missing = self.check(hook, instance_id, deadline, log)
        while event is None:
            time.sleep(self.poll_interval)
            event, missing = self.check(hook, instance_id, deadline, log, missing=missing)
        return event

    def trigger(
        self, instance_id: str, deadline: float | None, start: Mapping[str, Any] | None = None
    ) -> DurableOrchestrationTrigger:
        """The trigger that waits (and, given ``start``, first starts the instance in the triggerer)."""
        from airflow_azure_compute.triggers.durable import DurableOrchestrationTrigger

        return DurableOrchestrationTrigger(
            instance_id=instance_id,
            conn_id=self.azure_conn_id,
            poll_interval=self.poll_interval,
            deadline=deadline,
            on_suspended=self.on_suspended.value,
            terminate_on_kill=self.terminate_on_kill,
            start=start,
            until_custom_status=self.until_custom_status,
        )

    def finish(self, hook: DurableHook, event: Mapping[str, Any], log: Any) -> Any:
        """Turn the final event into the output (or an error); terminate on timeout; purge per policy."""
        instance_id = str(event.get("instance_id"))
        succeeded = False
        try:
            log.info(
                "orchestration %s: %s (%s)",
                instance_id,
                event.get("status"),
                event.get("runtime_status", "-"),
            )
            if event.get("status") == "timeout" and self.terminate_on_kill:
                hook.terminate(instance_id, "deadline exceeded in Airflow")
            value = outcome(event)
            succeeded = True
            return value
        finally:
            still_running = event.get("status") == "custom_status"
            if not still_running and should_delete(self.cleanup, succeeded):
                try:
                    log.info("purging the history of %s (cleanup=%s)", instance_id, self.cleanup.value)
                    hook.purge(instance_id)
                except AzureComputeError as err:  # never hide the task's own outcome
                    log.warning("purge of %s failed: %s", instance_id, err)


def make_waiter(
    azure_conn_id: str | None,
    poll_interval: float,
    on_suspended: SuspendedAction | str,
    terminate_on_kill: bool,
    cleanup: CleanupPolicy | str,
    until_custom_status: Any = None,
) -> DurableWaiter:
    return DurableWaiter(
        azure_conn_id=azure_conn_id,
        poll_interval=float(poll_interval),
        on_suspended=SuspendedAction.parse(on_suspended, field="on_suspended"),
        terminate_on_kill=terminate_on_kill,
        cleanup=CleanupPolicy.parse(cleanup, field="cleanup"),
        until_custom_status=until_custom_status,
    )


def _hook(azure_conn_id: str | None) -> DurableHook:
    from airflow_azure_compute.hooks.durable import DurableHook

    return DurableHook(azure_conn_id)


class DurableStartOrchestrationOperator(LineageMixin, BaseOperator):
    """Start an orchestration (or reattach to a running one with the same id); optionally wait for it.

    Returns the instance id, or, with ``wait_for_completion``, the orchestration's output. The instance
    id is also pushed as XCom ``instance_id``.

    :param orchestrator: orchestrator function name.
    :param input: JSON input: a dict/list, or a JSON string (templated; a rendered template is parsed).
    :param instance_id: instance id; default derived from dag, run, task and map index, so a retry
        reattaches to the instance its first try started.
    :param start_route: the app's own HTTP starter route (relative, may contain ``{function_name}``
        and ``{instance_id}``) instead of the built-in ``/runtime/webhooks/durabletask/orchestrators``.
    :param wait_for_completion: wait (deferred by default) until the instance is terminal.
    :param timeout: give up waiting after this long (absolute deadline across deferrals); the instance
        is then terminated when ``terminate_on_kill``.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``, else True).

    ``azure_conn_id``, ``poll_interval``, ``on_suspended``, ``terminate_on_kill`` and ``cleanup`` are those
    of `DurableWaiter`.
    """

    template_fields: Sequence[str] = ("orchestrator", "input", "instance_id", "start_route", "azure_conn_id")
    template_fields_renderers = {"input": "json"}
    operator_extra_links = (DurableInstanceLink(),)
    ui_color = "#3c78d8"

    def __init__(
        self,
        *,
        orchestrator: str,
        input: Any = None,
        instance_id: str | None = None,
        start_route: str | None = None,
        azure_conn_id: str | None = None,
        wait_for_completion: bool = False,
        poll_interval: float = 5.0,
        timeout: timedelta | float | None = None,
        on_suspended: SuspendedAction | str = SuspendedAction.WAIT,
        terminate_on_kill: bool = True,
        cleanup: CleanupPolicy | str = CleanupPolicy.KEEP,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.orchestrator = orchestrator
        self.input = input
        self.instance_id = instance_id
        self.start_route = start_route
        self.azure_conn_id = azure_conn_id
        self.wait_for_completion = wait_for_completion
        self.timeout = timeout
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._waiter_args = (float(poll_interval), on_suspended, terminate_on_kill, cleanup)
        make_waiter(azure_conn_id, *self._waiter_args)  # fail fast on bad values
        self._started_id: str | None = None

    @property
    def waiter(self) -> DurableWaiter:
        """How this task waits (built from the rendered ``azure_conn_id``)."""
        return make_waiter(self.azure_conn_id, *self._waiter_args)

    def execute(self, context: Context) -> Any:
        dag_id, run_id, task_id, map_index = run_scope(context)
        instance_id = self.instance_id or derive_run_id("orch", dag_id, run_id, task_id, map_index)
        validate_instance_id(instance_id)
        hook = _hook(self.azure_conn_id)
        if self.wait_for_completion and self.deferrable and self._id_known_before_start():
            return self._start_in_trigger(context, hook, instance_id)
        result = hook.start(
            self.orchestrator, instance_id=instance_id, input=self.input, route=self.start_route
        )
        self._started_id = result.instance_id
        self.log.info(
            "%s orchestration %s (%s)",
            "reattached to" if result.reattached else "started",
            result.instance_id,
            self.orchestrator,
        )
        context["ti"].xcom_push(key="instance_id", value=result.instance_id)
        DurableInstanceLink.persist(
            context, instance_id=result.instance_id, **durable_app_fields(hook.settings)
        )
        self.record_lineage(external_id=result.instance_id, source=hook.settings.endpoint)
        if not self.wait_for_completion:
            return result.instance_id
        deadline = deadline_after(self.timeout)
        waiter = self.waiter
        event, _ = waiter.check(hook, result.instance_id, deadline, self.log)
        if event is None and self.deferrable:
            self.defer(trigger=waiter.trigger(result.instance_id, deadline), method_name="execute_complete")
        if event is None:
            event = waiter.poll_until_done(hook, result.instance_id, deadline, self.log)
        return waiter.finish(hook, event, self.log)

    def _id_known_before_start(self) -> bool:
        return self.start_route is None or "{instance_id}" in self.start_route

    def _start_in_trigger(self, context: Context, hook: DurableHook, instance_id: str) -> Any:
        """Defer at once; the trigger starts (or reattaches to) the instance, then waits for it.

        Nothing is started before the triggerer owns the task, so a task killed at any moment leaves no
        orchestration behind: before the trigger runs there is none, after it ``on_kill`` terminates it.
        """
        encode_input(self.input)  # a bad input fails here, before deferring
        self._started_id = instance_id
        context["ti"].xcom_push(key="instance_id", value=instance_id)
        DurableInstanceLink.persist(context, instance_id=instance_id, **durable_app_fields(hook.settings))
        self.record_lineage(external_id=instance_id, source=hook.settings.endpoint)
        start = {"orchestrator": self.orchestrator, "input": self.input, "route": self.start_route}
        self.defer(
            trigger=self.waiter.trigger(instance_id, deadline_after(self.timeout), start=start),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        hook = _hook(self.azure_conn_id)
        if event.get("instance_id"):
            self.record_lineage(external_id=str(event["instance_id"]), source=hook.settings.endpoint)
        return self.waiter.finish(hook, event, self.log)

    def on_kill(self) -> None:
        if self._started_id and self.wait_for_completion and self.waiter.terminate_on_kill:
            _hook(self.azure_conn_id).terminate(self._started_id, "task killed in Airflow")


class DurableRaiseEventOperator(BaseOperator):
    """Raise an external event on a running orchestration.

    :param instance_id: orchestration instance id (templated).
    :param event_name: event name the orchestrator waits for (``wait_for_external_event``).
    :param event_data: JSON payload: a dict/list or a JSON string (templated).
    :param azure_conn_id: ``azure_compute_durable`` connection id.
    """

    template_fields: Sequence[str] = ("instance_id", "event_name", "event_data", "azure_conn_id")
    template_fields_renderers = {"event_data": "json"}

    def __init__(
        self,
        *,
        instance_id: str,
        event_name: str,
        event_data: Any = None,
        azure_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.event_name = event_name
        self.event_data = event_data
        self.azure_conn_id = azure_conn_id

    def execute(self, context: Context) -> None:
        _hook(self.azure_conn_id).raise_event(self.instance_id, self.event_name, self.event_data)
        self.log.info("raised event %r on %s", self.event_name, self.instance_id)


class DurableTerminateOrchestrationOperator(BaseOperator):
    """Terminate an orchestration; an instance that already ended is not an error.

    :param instance_id: orchestration instance id (templated).
    :param reason: reason recorded with the termination.
    :param azure_conn_id: ``azure_compute_durable`` connection id.
    """

    template_fields: Sequence[str] = ("instance_id", "reason", "azure_conn_id")

    def __init__(
        self,
        *,
        instance_id: str,
        reason: str = "terminated from Airflow",
        azure_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.reason = reason
        self.azure_conn_id = azure_conn_id

    def execute(self, context: Context) -> bool:
        sent = _hook(self.azure_conn_id).terminate(self.instance_id, self.reason)
        self.log.info("terminate %s: %s", self.instance_id, "sent" if sent else "already terminal")
        return sent


class DurableInstanceActionOperator(BaseOperator):
    """Suspend, resume, rewind, restart or terminate an orchestration instance.

    The instance's state is read first, and an action that state does not allow (resume of a Running
    instance, rewind of one that did not fail, suspend of a finished one) fails with an error naming the
    state; nothing is sent. Returns the id of the instance that runs afterwards: a new one after
    ``restart`` with ``new_instance_id``, else ``instance_id``.

    :param instance_id: orchestration instance id (templated).
    :param action: ``suspend``, ``resume``, ``rewind`` (a Failed instance reruns its failed activities),
        ``restart`` (runs again with its original input) or ``terminate``.
    :param reason: reason recorded with the action (suspend, resume, rewind, terminate).
    :param new_instance_id: ``restart`` under a new id (default) or the same id (the instance must then
        have ended).
    :param azure_conn_id: ``azure_compute_durable`` connection id.
    """

    template_fields: Sequence[str] = ("instance_id", "action", "reason", "azure_conn_id")
    ui_color = "#3c78d8"

    def __init__(
        self,
        *,
        instance_id: str,
        action: InstanceAction | str,
        reason: str = "from Airflow",
        new_instance_id: bool = True,
        azure_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.action = action
        InstanceAction.parse(action, field="action")  # fail at DAG parsing on a typo
        self.reason = reason
        self.new_instance_id = new_instance_id
        self.azure_conn_id = azure_conn_id

    def execute(self, context: Context) -> str:
        action = InstanceAction.parse(self.action, field="action")
        validate_instance_id(self.instance_id)
        hook = _hook(self.azure_conn_id)
        status = hook.get_status(self.instance_id)
        same_id = action is InstanceAction.RESTART and not self.new_instance_id
        check_action_allowed(action, status, self.instance_id, same_id=same_id)
        assert status is not None
        if action is InstanceAction.RESTART:
            running = hook.restart(self.instance_id, new_instance_id=self.new_instance_id)
            self.log.info("restarted %s as %s", self.instance_id, running)
            return running
        sent = {
            InstanceAction.SUSPEND: hook.suspend,
            InstanceAction.RESUME: hook.resume,
            InstanceAction.REWIND: hook.rewind,
            InstanceAction.TERMINATE: hook.terminate,
        }[action](self.instance_id, self.reason)
        if not sent:
            raise AzureComputeRemoteError(
                f"cannot {action.value} orchestration {self.instance_id!r}: it ended meanwhile",
                code="InvalidInstanceState",
            )
        self.log.info("%s %s (was %s)", action.value, self.instance_id, status.runtime_status.value)
        return self.instance_id


class DurablePurgeOrchestrationOperator(BaseOperator):
    """Purge the history of orchestrations: given ids, and/or every instance this DAG run created.

    Typically the last task of a DAG, with ``trigger_rule="all_done"`` (or as a teardown). A missing
    instance is not an error.

    :param instance_ids: one id or a list of ids (templated).
    :param created_by_this_run: also purge every instance whose id starts with this run's prefix: the
        ids `DurableStartOrchestrationOperator` derives (and `run_instance_prefix` gives to
        ids you build yourself).
    :param instance_id_prefix: also purge every instance whose id starts with this (templated).
    :param created_from: with ``instance_id_prefix`` or alone: only instances created at or after this
        ISO 8601 time (templated, e.g. ``"{{ dag_run.start_date }}"``).
    :param created_to: only instances created at or before this time (templated).
    :param terminate: terminate instances that are still running first (else purging them fails).
    :param azure_conn_id: ``azure_compute_durable`` connection id.
    """

    template_fields: Sequence[str] = (
        "instance_ids",
        "instance_id_prefix",
        "created_from",
        "created_to",
        "azure_conn_id",
    )

    def __init__(
        self,
        *,
        instance_ids: str | Sequence[str] = (),
        created_by_this_run: bool = False,
        instance_id_prefix: str | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        terminate: bool = False,
        azure_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.instance_ids = instance_ids
        self.created_by_this_run = created_by_this_run
        self.instance_id_prefix = instance_id_prefix
        self.created_from = created_from
        self.created_to = created_to
        self.terminate = terminate
        self.azure_conn_id = azure_conn_id

    def _selected(self, context: Context, hook: DurableHook) -> list[str]:
        ids = [self.instance_ids] if isinstance(self.instance_ids, str) else list(self.instance_ids or ())
        for instance_id in ids:
            validate_instance_id(instance_id, field_name="instance_ids")
        window = {"created_from": _iso(self.created_from), "created_to": _iso(self.created_to)}
        prefixes = [self.instance_id_prefix] if self.instance_id_prefix else []
        if self.created_by_this_run:
            prefixes.append(run_instance_prefix(context))
        if not prefixes and (window["created_from"] or window["created_to"]):
            prefixes.append("")
        for prefix in prefixes:
            ids += [s.instance_id for s in hook.list_instances(prefix=prefix or None, **window)]
        return list(dict.fromkeys(ids))

    def execute(self, context: Context) -> list[str]:
        hook = _hook(self.azure_conn_id)
        purged: list[str] = []
        for instance_id in self._selected(context, hook):
            if self.terminate:
                status = hook.get_status(instance_id)
                if status is not None and not status.is_terminal:
                    hook.terminate(instance_id, "purged from Airflow")
                    self._wait_terminal(hook, instance_id)
            if hook.purge(instance_id):
                purged.append(instance_id)
            self.log.info("purge %s: %s", instance_id, "done" if instance_id in purged else "not found")
        return purged

    @staticmethod
    def _wait_terminal(hook: DurableHook, instance_id: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = hook.get_status(instance_id)
            if status is None or status.is_terminal:
                return
            time.sleep(0.5)


def run_instance_prefix(context: Mapping[str, Any]) -> str:
    """The instance id prefix of every orchestration the running DAG run started with a derived id."""
    dag_id, run_id, _, _ = run_scope(context)
    return run_prefix("orch", dag_id, run_id)


def _iso(value: Any) -> str | None:
    """A time given as datetime or text, as the ISO 8601 text the Durable API filters with."""
    if value is None or value == "":
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


__all__ = [
    "DurableInstanceActionOperator",
    "DurablePurgeOrchestrationOperator",
    "DurableRaiseEventOperator",
    "DurableStartOrchestrationOperator",
    "DurableTerminateOrchestrationOperator",
    "DurableWaiter",
    "make_waiter",
    "outcome",
    "run_instance_prefix",
]
