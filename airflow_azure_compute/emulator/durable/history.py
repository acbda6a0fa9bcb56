"""History events in the JSON shape azure-functions-durable parses (``models/history/HistoryEvent``).

Every event carries ``EventType`` (the ``HistoryEventType`` integer), ``EventId``, ``IsPlayed`` and
``Timestamp``; the other fields are those the package's ``TaskOrchestrationExecutor`` reads:
``TaskScheduledId`` (task and sub-orchestration completions), ``TimerId`` (timers), ``Name`` and
``Input`` (external events), ``Result``, ``Reason`` and ``Details``. Scheduled events carry the
sequence number the orchestrator gave their task as ``EventId``; other events use ``-1``.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import IntEnum
from typing import Any

from airflow_azure_compute.emulator.durable.wire import format_event_time, utcnow

Event = dict[str, Any]


class EventType(IntEnum):
    """Same numbers as ``azure.durable_functions.models.history.HistoryEventType``."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


#: Display names used in ``historyEvents`` of the status body.
EVENT_NAMES = {
    EventType.EXECUTION_STARTED: "ExecutionStarted",
    EventType.EXECUTION_COMPLETED: "ExecutionCompleted",
    EventType.EXECUTION_FAILED: "ExecutionFailed",
    EventType.EXECUTION_TERMINATED: "ExecutionTerminated",
    EventType.TASK_SCHEDULED: "TaskScheduled",
    EventType.TASK_COMPLETED: "TaskCompleted",
    EventType.TASK_FAILED: "TaskFailed",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "SubOrchestrationInstanceCreated",
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "SubOrchestrationInstanceCompleted",
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: "SubOrchestrationInstanceFailed",
    EventType.TIMER_CREATED: "TimerCreated",
    EventType.TIMER_FIRED: "TimerFired",
    EventType.ORCHESTRATOR_STARTED: "OrchestratorStarted",
    EventType.ORCHESTRATOR_COMPLETED: "OrchestratorCompleted",
    EventType.EVENT_SENT: "EventSent",
    EventType.EVENT_RAISED: "EventRaised",
    EventType.CONTINUE_AS_NEW: "ContinueAsNew",
    EventType.GENERIC_EVENT: "GenericEvent",
    EventType.HISTORY_STATE: "HistoryState",
    EventType.EXECUTION_SUSPENDED: "ExecutionSuspended",
    EventType.EXECUTION_RESUMED: "ExecutionResumed",
}


def event(kind: EventType, event_id: int = -1, at: datetime | None = None, **fields: Any) -> Event:
    """One history event; ``IsPlayed`` is set when the event is handed to the orchestrator."""
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_event_time(at or utcnow()),
        **fields,
    }


def orchestrator_started() -> Event:
    return event(EventType.ORCHESTRATOR_STARTED)


def orchestrator_completed() -> Event:
    return event(EventType.ORCHESTRATOR_COMPLETED)


def execution_started(
    name: str, input_text: str | None, parent_instance_id: str | None, version: str = ""
) -> Event:
    return event(
        EventType.EXECUTION_STARTED,
        Name=name,
        Input=input_text,
        ParentInstanceId=parent_instance_id,
        Version=version,
    )


def task_scheduled(event_id: int, name: str, input_text: str | None) -> Event:
    return event(EventType.TASK_SCHEDULED, event_id, Name=name, Input=input_text)


def task_completed(scheduled_id: int, result_text: str | None) -> Event:
    return event(EventType.TASK_COMPLETED, TaskScheduledId=scheduled_id, Result=result_text)


def task_failed(scheduled_id: int, reason: str, details: str) -> Event:
    return event(EventType.TASK_FAILED, TaskScheduledId=scheduled_id, Reason=reason, Details=details)


def timer_created(event_id: int, fire_at: str) -> Event:
    return event(EventType.TIMER_CREATED, event_id, FireAt=fire_at)


def timer_fired(timer_id: int, fire_at: str) -> Event:
    return event(EventType.TIMER_FIRED, TimerId=timer_id, FireAt=fire_at)


def sub_orchestration_created(event_id: int, name: str, instance_id: str, input_text: str | None) -> Event:
    return event(
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        event_id,
        Name=name,
        InstanceId=instance_id,
        Input=input_text,
    )


def sub_orchestration_completed(scheduled_id: int, result_text: str | None) -> Event:
    return event(
        EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, TaskScheduledId=scheduled_id, Result=result_text
    )


def sub_orchestration_failed(scheduled_id: int, reason: str, details: str) -> Event:
    return event(
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
        TaskScheduledId=scheduled_id,
        Reason=reason,
        Details=details,
    )


def event_sent(event_id: int, instance_id: str, name: str, input_text: str | None) -> Event:
    """A message sent to another instance: here an entity operation (``InstanceId`` ``@name@key``)."""
    return event(EventType.EVENT_SENT, event_id, InstanceId=instance_id, Name=name, Input=input_text)


def event_raised(name: str, input_text: str | None) -> Event:
    return event(EventType.EVENT_RAISED, Name=name, Input=input_text)


def execution_completed(status: str, result_text: str | None) -> Event:
    return event(EventType.EXECUTION_COMPLETED, OrchestrationStatus=status, Result=result_text)


def execution_terminated(reason: str | None) -> Event:
    return event(EventType.EXECUTION_TERMINATED, Input=reason)


def execution_suspended(reason: str | None) -> Event:
    return event(EventType.EXECUTION_SUSPENDED, Reason=reason)


def execution_resumed(reason: str | None) -> Event:
    return event(EventType.EXECUTION_RESUMED, Reason=reason)


def display(events: list[Event], with_output: bool) -> list[dict[str, Any]]:
    """``historyEvents`` of the status body, as the extension renders them: orchestrator episodes and
    the scheduling events of finished work left out (a completion carries ``FunctionName`` and
    ``ScheduledTime`` instead), results parsed as JSON and shown only on request."""
    creating = (
        EventType.TASK_SCHEDULED,
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        EventType.TIMER_CREATED,
    )
    scheduled = {e["EventId"]: e for e in events if e["EventType"] in creating}
    answered = {
        e.get("TaskScheduledId", e.get("TimerId"))
        for e in events
        if e["EventType"] not in creating and e.get("TaskScheduledId", e.get("TimerId")) is not None
    }
    shown: list[dict[str, Any]] = []
    for e in events:
        kind = EventType(e["EventType"])
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            continue
        if kind in creating and e["EventId"] in answered:
            continue
        item: dict[str, Any] = {
            "EventType": EVENT_NAMES[kind],
            "EventId": e["EventId"],
            "Timestamp": e["Timestamp"],
        }
        source = scheduled.get(e.get("TaskScheduledId", e.get("TimerId", -1)))
        if source is not None and source is not e:
            item["ScheduledTime"] = source["Timestamp"]
            if source.get("Name"):
                item["FunctionName"] = source["Name"]
        elif e.get("Name"):
            item["FunctionName" if kind != EventType.EVENT_RAISED else "Name"] = e["Name"]
        for key in ("FireAt", "InstanceId", "OrchestrationStatus", "Reason", "Details"):
            if e.get(key) is not None:
                item[key] = e[key]
        if with_output:
            for key in ("Input", "Result"):
                if e.get(key) is not None:
                    item[key] = _json_value(e[key])
        shown.append(item)
    return shown


def _json_value(text: Any) -> Any:
    """A history payload (JSON text) as the JSON value it holds; other text as it is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
