"""Run orchestrations by replay, the way the Durable extension drives an out-of-process worker.

Each instance keeps the history of its current execution. An *episode* hands the orchestrator
(through the package's own ``Orchestrator.create(fn)`` handle) the committed history plus the new
events (``OrchestratorStarted`` first), reads back ``OrchestratorState`` JSON, and schedules every
leaf action it has not seen yet, giving it the next sequence number as the package does:
``TaskScheduled`` / ``TimerCreated`` / ``SubOrchestrationInstanceCreated`` carry that number as
``EventId``, and their completions point back at it.

``...WithRetry`` tasks follow DTFx's retry interceptor: after a failed attempt a retry timer is
created, and when it fires the next attempt is scheduled, or (after the last attempt) nothing, and
the package fails the task. Both take a sequence number while the package processes the event, so
an episode's batch ends at such an event and its number follows the episode's new leaves.

Replays run on one dedicated thread (episodes of all instances stay ordered and the event loop, shared
with the other emulated services, stays free); activities run on a thread pool, or on the loop when
they are ``async def``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_azure_compute.emulator.durable import history as h
from airflow_azure_compute.emulator.durable.actions import (
    UNNUMBERED,
    UNSUPPORTED,
    Action,
    ActionType,
    flatten,
    leaf_kind,
    retry_options,
)
from airflow_azure_compute.emulator.durable.entities import EntityStore, parse_entity_id
from airflow_azure_compute.emulator.durable.history import Event, EventType
from airflow_azure_compute.emulator.durable.http_calls import HTTP_ACTIVITY, call_http
from airflow_azure_compute.emulator.durable.loader import FunctionIndex
from airflow_azure_compute.emulator.durable.wire import TERMINAL, RuntimeStatus, utcnow

log = logging.getLogger(__name__)


class UnsupportedActionError(Exception):
    """An orchestrator asked for an action the emulator does not run (entities, durable HTTP): the
    instance fails with this message."""


_OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:"
#: Marks an inbox event whose processing makes the orchestrator take a sequence number (retries).
_RETRY_MARK = "_retry"
#: The replay schema the emulator announces (``ReplaySchema.V3``: compound actions nest).
UPPER_SCHEMA_VERSION = 2


def _to_text(value: Any) -> str | None:
    """A JSON value as the orchestrator reads it: strings as they are, the rest JSON-encoded."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _parse_fire_at(text: str) -> datetime:
    from dateutil.parser import isoparse

    parsed = isoparse(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class _Retry:
    """One ``...WithRetry`` task: what to schedule again and how many attempts are left."""

    kind: ActionType
    action: Action
    interval_ms: int
    max_attempts: int
    attempts: int = 1


@dataclass(eq=False)
class Instance:
    """One orchestration instance; ``history`` is its current execution's committed history."""

    instance_id: str
    name: str
    input: Any
    created: datetime
    parent: tuple[str, int, int, bool] | None = None  # (instance id, execution, event id, retry)
    version: str = ""  # the orchestration version (ExecutionStarted's Version), fixed at creation
    status: RuntimeStatus = RuntimeStatus.PENDING
    last_updated: datetime = field(default_factory=utcnow)
    output: Any = None
    custom_status: Any = None
    original_input: Any = None
    history: list[Event] = field(default_factory=list)
    inbox: list[Event] = field(default_factory=list)
    last_actions: list[Any] = field(default_factory=list)
    execution: int = 0
    next_event_id: int = 0
    leaves_seen: int = 0
    leaf_event_ids: list[int | None] = field(default_factory=list)
    retries: dict[int, _Retry] = field(default_factory=dict)
    timers: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    work: set[asyncio.Task[None]] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    driver: asyncio.Task[None] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def touch(self) -> None:
        self.last_updated = utcnow()


class Engine:
    """The instances of one task hub and the loop that runs them."""

    def __init__(self, functions: FunctionIndex, max_workers: int = 16) -> None:
        self.functions = functions
        self.instances: dict[str, Instance] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="durable-activity")
        self._replayer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="durable-replay")
        self.entities = EntityStore(functions, self._pool)
        self._signals: set[asyncio.Task[Any]] = set()  # entity operations nobody waits for

    # ----------------------------------------------------------------- lifecycle
    def start(
        self,
        name: str,
        instance_id: str,
        input_value: Any,
        parent: tuple[str, int, int, bool] | None = None,
        version: str | None = None,
    ) -> Instance:
        """Create (or replace a terminal) instance and start running it.

        ``version`` is the orchestration version; without one, the app's ``defaultVersion``
        (host.json ``extensions.durableTask``), as the extension assigns it.
        """
        orchestrator = self.functions.orchestrator(name)
        if orchestrator is None:
            raise KeyError(name)
        old = self.instances.get(instance_id)
        if old is not None:
            self._stop_work(old)
        instance = Instance(
            instance_id=instance_id,
            name=orchestrator.name,
            input=input_value,
            original_input=input_value,
            created=utcnow(),
            parent=parent,
            version=self.functions.default_version if version is None else version,
        )
        self.instances[instance_id] = instance
        self._begin_execution(instance)
        instance.driver = asyncio.get_running_loop().create_task(self._drive(instance))
        return instance

    def _begin_execution(self, instance: Instance) -> None:
        instance.execution += 1
        instance.history = []
        instance.next_event_id = 0
        instance.leaves_seen = 0
        instance.leaf_event_ids = []
        instance.retries = {}
        parent_id = instance.parent[0] if instance.parent else None
        instance.inbox = [
            h.execution_started(instance.name, json.dumps(instance.input), parent_id, instance.version)
        ]
        instance.wake.set()

    def terminate(self, instance: Instance, reason: str | None) -> None:
        self._finish(instance, RuntimeStatus.TERMINATED, reason, h.execution_terminated(reason))

    def suspend(self, instance: Instance, reason: str | None) -> None:
        if instance.status != RuntimeStatus.SUSPENDED:
            instance.status = RuntimeStatus.SUSPENDED
            instance.inbox.append(h.execution_suspended(reason))
            instance.touch()

    def resume(self, instance: Instance, reason: str | None) -> None:
        if instance.status == RuntimeStatus.SUSPENDED:
            instance.status = RuntimeStatus.RUNNING
            instance.inbox.append(h.execution_resumed(reason))
            instance.touch()
            instance.wake.set()

    def rewind(self, instance: Instance, reason: str | None) -> None:
        """Take a Failed instance back to Running and run its failed activities again.

        As Durable Functions does: the failures leave the history (each failed activity's
        ``TaskFailed`` and the failed ``ExecutionCompleted``), the activities run again with the
        input they were scheduled with, and the orchestrator replays with their new results.
        """
        failed = [e for e in instance.history if e["EventType"] == EventType.TASK_FAILED]
        failed_ids = {e["TaskScheduledId"] for e in failed}
        dropped = (EventType.TASK_FAILED, EventType.EXECUTION_COMPLETED)
        history = [e for e in instance.history if e["EventType"] not in dropped]
        while history and history[-1]["EventType"] == EventType.ORCHESTRATOR_STARTED:
            history.pop()  # the episode that failed starts again with the new results
        instance.history = history
        instance.status = RuntimeStatus.RUNNING
        instance.output = None
        instance.finished.clear()
        instance.touch()
        scheduled = {
            e["EventId"]: e
            for e in history
            if e["EventType"] == EventType.TASK_SCHEDULED and e["EventId"] in failed_ids
        }
        loop = asyncio.get_running_loop()
        instance.driver = loop.create_task(self._drive(instance))
        for event_id, event in scheduled.items():
            self._spawn(
                instance,
                self._run_activity(
                    instance, instance.execution, event_id, event["Name"], event.get("Input"), False
                ),
            )
        if not scheduled:  # the orchestrator itself failed: replay it (it fails again if it must)
            instance.inbox.append(h.orchestrator_started())
            instance.wake.set()
        log.info("durable instance %s rewound (%s)", instance.instance_id, reason or "no reason")

    def raise_event(self, instance: Instance, name: str, input_text: str | None) -> None:
        self._deliver(instance, instance.execution, h.event_raised(name, input_text))

    def purge(self, instance: Instance) -> None:
        self._stop_work(instance)
        self.instances.pop(instance.instance_id, None)

    def reset(self) -> None:
        for instance in list(self.instances.values()):
            self._stop_work(instance)
        self.instances.clear()
        for task in list(self._signals):
            task.cancel()
        self.entities.reset()

    async def close(self) -> None:
        tasks = [t for i in self.instances.values() for t in self._stop_work(i)]
        self.instances.clear()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._replayer.shutdown(wait=False, cancel_futures=True)

    def _stop_work(self, instance: Instance) -> list[asyncio.Task[None]]:
        tasks = [*self._cancel_work(instance), *([instance.driver] if instance.driver else [])]
        if instance.driver is not None:
            instance.driver.cancel()
        return tasks

    # ----------------------------------------------------------------- the replay loop
    async def _drive(self, instance: Instance) -> None:
        while not instance.terminal:
            await instance.wake.wait()
            instance.wake.clear()
            while instance.inbox and not instance.terminal and instance.status != RuntimeStatus.SUSPENDED:
                try:
                    await self._episode(instance)
                except Exception as exc:  # an emulator bug must not hang the instance
                    log.exception("durable instance %s: episode failed", instance.instance_id)
                    self._fail(instance, f"Emulator error while replaying: {exc!r}")
                await asyncio.sleep(0)

    def _take_batch(self, instance: Instance) -> list[Event]:
        for i, event in enumerate(instance.inbox):
            if event.get(_RETRY_MARK):
                batch, instance.inbox = instance.inbox[: i + 1], instance.inbox[i + 1 :]
                return batch
        batch, instance.inbox = instance.inbox, []
        return batch

    async def _episode(self, instance: Instance) -> None:
        orchestrator = self.functions.orchestrator(instance.name)
        assert orchestrator is not None
        batch = [h.orchestrator_started(), *self._take_batch(instance)]
        if instance.status in (RuntimeStatus.PENDING, RuntimeStatus.CONTINUED_AS_NEW):
            instance.status = RuntimeStatus.RUNNING
        context = {
            "history": [_public(e, played=True) for e in instance.history]
            + [_public(e, played=False) for e in batch],
            "isReplaying": bool(instance.history),
            **context_fields(instance),
        }
        execution = instance.execution
        # Replay off the event loop (one thread: episodes stay ordered) so the other services of the
        # process keep answering while a long history replays.
        state, error = await asyncio.get_running_loop().run_in_executor(
            self._replayer, run_orchestrator, orchestrator.handle, context
        )
        if (
            instance.terminal
            or instance.execution != execution
            or self.instances.get(instance.instance_id) is not instance
        ):
            return  # terminated, restarted or purged meanwhile: the batch goes with the old execution
        instance.history.extend(_public(e, played=False) for e in batch)
        instance.last_actions = state.get("actions") or []
        if "customStatus" in state:
            instance.custom_status = state["customStatus"]
        instance.touch()
        if error is not None:
            self._fail(instance, f"Orchestrator function '{instance.name}' failed: {error}")
            return
        try:
            continue_as_new = self._schedule_new_leaves(instance, flatten(instance.last_actions))
        except UnsupportedActionError as exc:
            self._fail(instance, f"Orchestrator function '{instance.name}' failed: {exc}")
            return
        if batch[-1].get(_RETRY_MARK):
            self._advance_retry(instance, batch[-1])
        instance.history.append(h.orchestrator_completed())
        if continue_as_new is not None:
            self._continue_as_new(instance, continue_as_new)
        elif state.get("isDone"):
            output = state.get("output")
            self._finish(instance, RuntimeStatus.COMPLETED, output, None)

    # ----------------------------------------------------------------- actions
    def _schedule_new_leaves(self, instance: Instance, leaves: list[Action]) -> Action | None:
        """Schedule leaves not seen before; return a ``ContinueAsNew`` action if there is one."""
        for index, leaf in enumerate(leaves):
            kind = leaf_kind(leaf)
            if index < instance.leaves_seen:
                event_id = instance.leaf_event_ids[index]
                if kind == ActionType.CREATE_TIMER and leaf.get("isCanceled") and event_id is not None:
                    timer = instance.timers.pop(event_id, None)
                    if timer is not None:
                        timer.cancel()
                continue
            instance.leaves_seen += 1
            if kind in UNNUMBERED:
                instance.leaf_event_ids.append(None)
                continue
            event_id = instance.next_event_id
            instance.next_event_id += 1
            instance.leaf_event_ids.append(event_id)
            if kind == ActionType.CONTINUE_AS_NEW:
                return leaf
            if kind in UNSUPPORTED:
                raise UnsupportedActionError(
                    f"{kind.name} actions (entities, durable HTTP) are not supported by the emulator"
                )
            self._schedule(instance, kind, leaf, event_id)
        return None

    def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None:
        """Queue a one-way operation on ``@name@key`` (raises ``EntityNotFoundError`` for an unknown name)."""
        self.entities.check_name(name)
        task = asyncio.get_running_loop().create_task(
            self.entities.operate(name, key, operation, input_text, True)
        )
        self._signals.add(task)
        task.add_done_callback(self._signals.discard)

    def _schedule_entity(self, instance: Instance, kind: ActionType, leaf: Action, event_id: int) -> None:
        """``SignalEntity`` / ``CallEntity``: an ``EventSent`` now; a call's answer comes back as an
        ``EventRaised`` named by the request id, holding ``{"result"}`` (and ``exceptionType`` on error)."""
        target, operation, input_text = leaf["instanceId"], leaf.get("operation") or "", leaf.get("input")
        request_id = str(uuid.uuid4())
        message = {
            "id": request_id,
            "op": operation,
            "signal": kind == ActionType.SIGNAL_ENTITY,
            "input": input_text,
        }
        instance.history.append(h.event_sent(event_id, target, "op", json.dumps(message)))
        try:
            name, key = parse_entity_id(target)
            self.entities.check_name(name)
        except (ValueError, LookupError) as exc:
            if kind == ActionType.CALL_ENTITY:
                answer = {"result": json.dumps(str(exc)), "exceptionType": "System.ArgumentException"}
                self._deliver(instance, instance.execution, h.event_raised(request_id, json.dumps(answer)))
            return
        if kind == ActionType.SIGNAL_ENTITY:
            self.signal_entity(name, key, operation, input_text)
            return

        async def call(execution: int) -> None:
            outcome = await self.entities.operate(name, key, operation, input_text, False)
            answer: dict[str, Any] = {"result": outcome.result}
            if outcome.is_error:
                answer["exceptionType"] = "System.Exception"
            self._deliver(instance, execution, h.event_raised(request_id, json.dumps(answer)))

        self._spawn(instance, call(instance.execution))

    def _schedule_http(self, instance: Instance, leaf: Action, event_id: int) -> None:
        """``CallHttp``: the built-in HTTP activity (``TaskScheduled`` / ``TaskCompleted`` with the response)."""
        request = leaf.get("httpRequest") or {}
        instance.history.append(h.task_scheduled(event_id, HTTP_ACTIVITY, json.dumps(request)))

        async def run(execution: int) -> None:
            self._deliver(instance, execution, await call_http(request, event_id))

        self._spawn(instance, run(instance.execution))

    def _schedule(self, instance: Instance, kind: ActionType, leaf: Action, event_id: int) -> None:
        if kind in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
            self._schedule_entity(instance, kind, leaf, event_id)
            return
        if kind == ActionType.CALL_HTTP:
            self._schedule_http(instance, leaf, event_id)
            return
        if kind == ActionType.CREATE_TIMER:
            fire_at = leaf["fireAt"]
            instance.history.append(h.timer_created(event_id, fire_at))
            if not leaf.get("isCanceled"):
                self._start_timer(instance, event_id, fire_at, retry=False)
            return
        retry = kind in (ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY)
        if retry:
            interval, attempts = retry_options(leaf)
            instance.retries[event_id] = _Retry(kind, leaf, interval, attempts)
        self._schedule_attempt(instance, kind, leaf, event_id, retry)

    def _schedule_attempt(
        self, instance: Instance, kind: ActionType, leaf: Action, event_id: int, retry: bool
    ) -> None:
        name = leaf["functionName"]
        input_text = leaf.get("input")
        if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            instance.history.append(h.task_scheduled(event_id, name, input_text))
            self._spawn(
                instance, self._run_activity(instance, instance.execution, event_id, name, input_text, retry)
            )
        else:
            child_id = leaf.get("instanceId") or f"{instance.instance_id}:{event_id:04d}"
            instance.history.append(h.sub_orchestration_created(event_id, name, child_id, input_text))
            self._start_child(instance, event_id, name, child_id, input_text, retry, leaf.get("version"))

    def _advance_retry(self, instance: Instance, event: Event) -> None:
        """Take the sequence number the package takes while processing a retry event."""
        kind = EventType(event["EventType"])
        if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            retry = instance.retries.pop(event["TaskScheduledId"])
            timer_id = instance.next_event_id
            instance.next_event_id += 1
            instance.retries[timer_id] = retry
            fire_at = h.format_event_time(utcnow() + timedelta(milliseconds=retry.interval_ms))
            instance.history.append(h.timer_created(timer_id, fire_at))
            self._start_timer(instance, timer_id, fire_at, retry=True)
        elif kind == EventType.TIMER_FIRED:
            retry = instance.retries.pop(event["TimerId"])
            if retry.attempts >= retry.max_attempts:
                return  # the package has failed the task with the last error
            retry.attempts += 1
            attempt_id = instance.next_event_id
            instance.next_event_id += 1
            instance.retries[attempt_id] = retry
            self._schedule_attempt(instance, retry.kind, retry.action, attempt_id, retry=True)

    def _spawn(self, instance: Instance, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        instance.work.add(task)
        task.add_done_callback(instance.work.discard)

    def _start_timer(self, instance: Instance, timer_id: int, fire_at: str, retry: bool) -> None:
        async def fire(execution: int) -> None:
            delay = (_parse_fire_at(fire_at) - utcnow()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            instance.timers.pop(timer_id, None)
            event = h.timer_fired(timer_id, fire_at)
            if retry:
                event[_RETRY_MARK] = True
            self._deliver(instance, execution, event)

        instance.timers[timer_id] = asyncio.get_running_loop().create_task(fire(instance.execution))

    async def _run_activity(
        self,
        instance: Instance,
        execution: int,
        event_id: int,
        name: str,
        input_text: str | None,
        retry: bool,
    ) -> None:
        event = await self.call_activity(name, input_text, event_id)
        if retry and event["EventType"] == EventType.TASK_FAILED:
            event[_RETRY_MARK] = True
        self._deliver(instance, execution, event)

    async def call_activity(self, name: str, input_text: str | None, event_id: int) -> Event:
        """Run one activity like the activity trigger does; return its completion event."""
        from azure.durable_functions.models.utils.df_serialization import df_dumps, df_loads

        activity = self.functions.activity(name)
        if activity is None:
            reason = f"The function '{name}' doesn't exist, is disabled, or is not an activity function."
            return h.task_failed(event_id, reason, reason)
        try:
            try:
                value = df_loads(input_text) if input_text is not None else None
            except json.JSONDecodeError:
                value = input_text  # the activity trigger's string fallback
            call: Callable[[], Any] = functools.partial(activity.func, **{activity.input_name: value})
            if activity.is_async:
                result = await call()
            else:
                result = await asyncio.get_running_loop().run_in_executor(self._pool, call)
            return h.task_completed(event_id, df_dumps(result))
        except Exception as exc:
            reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
            return h.task_failed(event_id, reason, traceback.format_exc())

    def _start_child(
        self,
        parent: Instance,
        event_id: int,
        name: str,
        child_id: str,
        input_text: str | None,
        retry: bool,
        version: str | None = None,
    ) -> None:
        existing = self.instances.get(child_id)
        problem = None
        if self.functions.orchestrator(name) is None:
            problem = f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
        elif existing is not None and not existing.terminal:
            problem = f"An instance with ID '{child_id}' already exists."
        if problem is not None:
            event = h.sub_orchestration_failed(event_id, problem, problem)
            if retry:
                event[_RETRY_MARK] = True
            parent.inbox.append(event)
            parent.wake.set()
            return
        self.start(
            name,
            child_id,
            input_text,
            parent=(parent.instance_id, parent.execution, event_id, retry),
            version=version,
        )

    # ----------------------------------------------------------------- endings
    def _deliver(self, instance: Instance, execution: int, event: Event) -> None:
        if instance.execution != execution or instance.terminal:
            return
        if self.instances.get(instance.instance_id) is not instance:
            return
        instance.inbox.append(event)
        instance.wake.set()

    def _continue_as_new(self, instance: Instance, action: Action) -> None:
        self._cancel_work(instance)
        instance.status = RuntimeStatus.CONTINUED_AS_NEW
        instance.input = action.get("input")
        instance.output = None
        instance.touch()
        self._begin_execution(instance)

    def _cancel_work(self, instance: Instance) -> list[asyncio.Task[None]]:
        tasks = [*instance.timers.values(), *instance.work]
        for task in tasks:
            task.cancel()
        instance.timers.clear()
        instance.work.clear()
        return tasks

    def _fail(self, instance: Instance, message: str) -> None:
        self._finish(instance, RuntimeStatus.FAILED, message, None)

    def _finish(self, instance: Instance, status: RuntimeStatus, output: Any, final: Event | None) -> None:
        self._cancel_work(instance)
        instance.status = status
        instance.output = output
        instance.history.append(
            final or h.execution_completed(status.value, _to_text(output) if output is not None else None)
        )
        instance.inbox.clear()
        instance.touch()
        instance.finished.set()
        instance.wake.set()
        if status != RuntimeStatus.TERMINATED:
            self._notify_parent(instance)

    def _notify_parent(self, child: Instance) -> None:
        if child.parent is None:
            return
        parent_id, execution, event_id, retry = child.parent
        parent = self.instances.get(parent_id)
        if parent is None:
            return
        if child.status == RuntimeStatus.COMPLETED:
            event = h.sub_orchestration_completed(event_id, json.dumps(child.output))
        else:
            message = str(child.output)
            event = h.sub_orchestration_failed(event_id, message, message)
            if retry:
                event[_RETRY_MARK] = True
        self._deliver(parent, execution, event)


def context_fields(instance: Instance) -> dict[str, Any]:
    """The orchestration context besides ``history``: what a replay of the instance needs."""
    return {
        "instanceId": instance.instance_id,
        "parentInstanceId": instance.parent[0] if instance.parent else None,
        "input": _to_text(instance.input),
        "upperSchemaVersion": UPPER_SCHEMA_VERSION,
    }


def _public(event: Event, played: bool) -> Event:
    """The event as the package sees it: internal marks removed, ``IsPlayed`` set."""
    return {**{k: v for k, v in event.items() if not k.startswith("_")}, "IsPlayed": played}


def run_orchestrator(
    handle: Callable[[Any], str], context: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Call an ``Orchestrator.create(fn)`` handle; return its state and the error message, if any."""
    try:
        return json.loads(handle(json.dumps(context))), None
    except Exception as exc:
        message = str(exc)
        if _OUT_OF_PROC_LABEL in message:
            error, _, data = message.partition(_OUT_OF_PROC_LABEL)
            try:
                return json.loads(data), error
            except ValueError:
                return {}, error
        return {}, f"{type(exc).__name__}: {message}"
