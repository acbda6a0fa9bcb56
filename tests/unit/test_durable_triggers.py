"""Durable trigger decisions, serialization, and the operator's event handling (pure)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    DeadlineExceededError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.hooks.durable_api import OrchestrationStatus, RuntimeStatus
from airflow_azure_compute.operators.durable import DurableStartOrchestrationOperator, outcome
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor
from airflow_azure_compute.triggers.durable import (
    MAX_MISSING,
    DurableOrchestrationTrigger,
    SuspendedAction,
    evaluate,
)


def status(rs: RuntimeStatus, **kw: Any) -> OrchestrationStatus:
    return OrchestrationStatus("i1", rs, **kw)


def decide(st: OrchestrationStatus | None, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "instance_id": "i1",
        "on_suspended": SuspendedAction.WAIT,
        "deadline": None,
        "now": 0.0,
    }
    return evaluate(st, **{**args, **kw})


def test_round_trip() -> None:
    trigger = DurableOrchestrationTrigger(
        instance_id="i1",
        conn_id="c",
        poll_interval=3,
        deadline=123.5,
        on_suspended="fail",
        terminate_on_kill=False,
    )
    path, kwargs = trigger.serialize()
    json.dumps(kwargs)
    module, name = path.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (path, kwargs)


@pytest.mark.parametrize("rs", [RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW])
def test_running_keeps_waiting(rs: RuntimeStatus) -> None:
    assert decide(status(rs)) is None


def test_completed_carries_output() -> None:
    event = decide(status(RuntimeStatus.COMPLETED, output={"x": 1}, custom_status="done"))
    assert event["status"] == "success" and event["output"] == {"x": 1} and event["custom_status"] == "done"


@pytest.mark.parametrize("rs", [RuntimeStatus.FAILED, RuntimeStatus.TERMINATED, RuntimeStatus.CANCELED])
def test_unsuccessful_states_fail(rs: RuntimeStatus) -> None:
    event = decide(status(rs, output="boom"))
    assert event["status"] == "failed" and event["runtime_status"] == rs.value and event["output"] == "boom"


@pytest.mark.parametrize(
    ("action", "expected"),
    [(SuspendedAction.WAIT, None), (SuspendedAction.RESUME, None), (SuspendedAction.FAIL, "suspended")],
)
def test_suspended_follows_the_parameter(action: SuspendedAction, expected: str | None) -> None:
    event = decide(status(RuntimeStatus.SUSPENDED), on_suspended=action)
    assert (event and event["status"]) == expected


def test_deadline_and_missing() -> None:
    assert decide(status(RuntimeStatus.RUNNING), deadline=10.0, now=10.0)["status"] == "timeout"
    assert decide(None, missing=1) is None
    assert decide(None, missing=MAX_MISSING)["status"] == "error"
    assert decide(None, missing=1, deadline=1.0, now=2.0)["status"] == "timeout"


def test_outcome_branches() -> None:
    assert outcome({"status": "success", "output": [1]}) == [1]
    with pytest.raises(RemoteWorkFailedError) as err:
        outcome(
            {
                "status": "failed",
                "runtime_status": "Failed",
                "output": "ValueError: nope",
                "instance_id": "i1",
            }
        )
    assert err.value.code == "Failed" and "ValueError: nope" in str(err.value)
    with pytest.raises(RemoteWorkFailedError):
        outcome({"status": "suspended", "runtime_status": "Suspended"})
    with pytest.raises(DeadlineExceededError):
        outcome({"status": "timeout"})
    with pytest.raises(AzureComputeRemoteError):
        outcome({"status": "error", "message": "gone"})


def test_parameters_fail_fast() -> None:
    with pytest.raises(AzureComputeConfigError) as err:
        DurableStartOrchestrationOperator(task_id="t", orchestrator="o", cleanup="sometimes")
    assert err.value.field == "cleanup"
    with pytest.raises(AzureComputeConfigError) as err:
        DurableOrchestrationSensor(task_id="s", instance_id="i", on_suspended="panic")
    assert err.value.field == "on_suspended"


def test_deferrable_default_follows_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DurableOrchestrationSensor(task_id="s", instance_id="i").deferrable
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
    assert not DurableOrchestrationSensor(task_id="s", instance_id="i").deferrable
    assert DurableOrchestrationSensor(task_id="s", instance_id="i", deferrable=True).deferrable
