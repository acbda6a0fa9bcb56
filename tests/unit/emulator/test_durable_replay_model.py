"""The replay model the Durable emulator relies on, checked against azure-functions-durable itself.

Hand-built histories go through the package's ``Orchestrator`` handle (no emulator process): they pin
the event shapes and the sequence numbering (activities, timers, ``...WithRetry`` attempts and the
retry timers DTFx inserts) that the engine produces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.emulator.durable import history as h
from airflow_azure_compute.emulator.durable.actions import ActionType, flatten, retry_options
from airflow_azure_compute.emulator.durable.engine import UPPER_SCHEMA_VERSION, run_orchestrator
from airflow_azure_compute.emulator.durable.loader import FunctionIndex, load_function_apps

APP = Path(__file__).resolve().parents[2] / "function_apps" / "durable_patterns.py"


@pytest.fixture(scope="module")
def functions() -> FunctionIndex:
    return load_function_apps([str(APP)])


def run(functions: FunctionIndex, name: str, events: list[dict[str, Any]], input_value: Any) -> Any:
    orchestrator = functions.orchestrator(name)
    assert orchestrator is not None
    context = {
        "history": [
            h.orchestrator_started(),
            h.execution_started(name, json.dumps(input_value), None),
            *events,
        ],
        "instanceId": "unit",
        "isReplaying": False,
        "parentInstanceId": None,
        "input": json.dumps(input_value),
        "upperSchemaVersion": UPPER_SCHEMA_VERSION,
    }
    return run_orchestrator(orchestrator.handle, context)


def test_first_episode_schedules_first_activity(functions: FunctionIndex) -> None:
    state, error = run(functions, "chain_orchestrator", [], ["a", "b"])
    assert error is None and state["isDone"] is False
    assert flatten(state["actions"]) == [
        {"actionType": ActionType.CALL_ACTIVITY, "functionName": "hello_activity", "input": '"a"'}
    ]


def test_completion_by_sequence_number(functions: FunctionIndex) -> None:
    events = [
        h.task_scheduled(0, "hello_activity", '"a"'),
        h.orchestrator_started(),
        h.task_completed(0, '"Hello a!"'),
        h.task_scheduled(1, "hello_activity", '"b"'),
        h.orchestrator_started(),
        h.task_completed(1, '"Hello b!"'),
    ]
    state, error = run(functions, "chain_orchestrator", events, ["a", "b"])
    assert error is None
    assert (state["isDone"], state["output"], state["customStatus"]) == (
        True,
        ["Hello a!", "Hello b!"],
        {"done": 2},
    )


def test_fan_out_is_one_when_all_with_numbered_children(functions: FunctionIndex) -> None:
    state, _ = run(functions, "fan_out_orchestrator", [], {"count": 3})
    (action,) = state["actions"][0]
    assert action["actionType"] == ActionType.WHEN_ALL
    assert [leaf["input"] for leaf in flatten(state["actions"])] == ["0", "1", "2"]
    done = [h.task_completed(i, json.dumps(i * i)) for i in (2, 0, 1)]  # any completion order
    state, _ = run(functions, "fan_out_orchestrator", [h.orchestrator_started(), *done], {"count": 3})
    assert state["output"] == {"count": 3, "sum": 5, "squares": [0, 1, 4]}


def test_retry_numbering_matches_dtfx(functions: FunctionIndex) -> None:
    """Attempt, retry timer, attempt...: each takes the next number, as the engine assigns them."""
    args = {"key": "k", "failures": 1, "attempts": 3, "interval_ms": 10}
    state, _ = run(functions, "retry_orchestrator", [h.task_completed(0, '"Hello before!"')], args)
    (leaf,) = [x for x in flatten(state["actions"]) if x["actionType"] == ActionType.CALL_ACTIVITY_WITH_RETRY]
    assert retry_options(leaf) == (10, 3)
    fire_at = "2030-01-01T00:00:00.000000Z"
    events = [
        h.task_completed(0, '"Hello before!"'),
        h.orchestrator_started(),
        h.task_failed(1, "flaky attempt 1 failed", "trace"),
        h.timer_created(2, fire_at),
        h.orchestrator_started(),
        h.timer_fired(2, fire_at),
        h.task_scheduled(3, "flaky_activity", json.dumps(args)),
        h.orchestrator_started(),
        h.task_completed(3, "2"),
        h.orchestrator_started(),
        h.task_completed(4, '"Hello after!"'),
    ]
    state, error = run(functions, "retry_orchestrator", events, args)
    assert error is None
    assert state["output"] == {"before": "Hello before!", "value": 2, "after": "Hello after!"}


def test_last_retry_waits_for_one_more_timer(functions: FunctionIndex) -> None:
    args = {"key": "k", "failures": 9, "attempts": 2, "interval_ms": 10}
    fire_at = "2030-01-01T00:00:00.000000Z"
    events = [
        h.task_completed(0, '"Hello before!"'),
        h.task_failed(1, "attempt 1 failed", "trace"),
        h.timer_fired(2, fire_at),
        h.task_failed(3, "attempt 2 failed", "trace"),
    ]
    state, _ = run(functions, "retry_orchestrator", events, args)
    assert state["isDone"] is False  # the extra timer (number 4) has not fired yet
    state, _ = run(functions, "retry_orchestrator", [*events, h.timer_fired(4, fire_at)], args)
    assert state["output"]["failed"].startswith("attempt 2 failed")


def test_orchestrator_exception_is_reported_with_state(functions: FunctionIndex) -> None:
    events = [h.task_completed(0, '"Hello doomed!"')]
    state, error = run(functions, "failing_orchestrator", events, None)
    assert error == "orchestrator gave up on purpose"
    assert state["isDone"] is False


def test_flatten_handles_nested_and_v1_payloads() -> None:
    a = {"actionType": 0, "functionName": "a", "input": "1"}
    t = {"actionType": 5, "fireAt": "x", "isCanceled": False}
    e = {"actionType": 6, "externalEventName": "E", "reason": "ExternalEvent"}
    nested = [[a, {"actionType": 11, "compoundActions": [e, {"actionType": 12, "compoundActions": [t]}]}]]
    assert flatten(nested) == [a, e, t]
    assert flatten([[a], [t, e]]) == [a, t, e]
