"""The Batch wait's kill path: what ``on_kill`` stops, per ``owns_job`` and ``terminate_on_kill``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from airflow_azure_compute.deferral import timed_out
from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger


class RecordingHook:
    """Stands in for `BatchAsyncHook`: records the terminate calls ``on_kill`` makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    @asynccontextmanager
    async def client(self) -> AsyncIterator[str]:
        yield "client"

    async def terminate_job(self, client: Any, job_id: str, reason: str = "UserTerminate") -> None:
        self.calls.append(("terminate_job", job_id, reason))

    async def terminate_tasks(self, client: Any, job_id: str, prefix: str | None = None) -> int:
        self.calls.append(("terminate_tasks", job_id, str(prefix)))
        return 3


def kill(**fields: Any) -> list[tuple[str, ...]]:
    trigger = BatchJobCompleteTrigger(
        job_id="job-1", conn_id="c", deadline=0.0, task_id_prefix="fan-", **fields
    )
    _, kwargs = trigger.serialize()
    rebuilt = BatchJobCompleteTrigger(**kwargs)  # what the triggerer runs
    hook = RecordingHook()
    rebuilt.hook = lambda: hook  # type: ignore[assignment,method-assign,return-value]
    asyncio.run(rebuilt.on_kill())
    return hook.calls


@pytest.mark.parametrize(
    ("fields", "calls"),
    [
        ({"owns_job": True}, [("terminate_job", "job-1", "AirflowTaskKilled")]),
        ({"owns_job": False}, [("terminate_tasks", "job-1", "fan-")]),
        ({"owns_job": True, "terminate_on_kill": False}, []),
        ({"owns_job": False, "terminate_on_kill": False}, []),
    ],
)
def test_on_kill_stops_what_the_run_owns_unless_told_to_keep_it(
    fields: dict[str, Any], calls: list[tuple[str, ...]]
) -> None:
    assert kill(**fields) == calls


def test_terminate_on_kill_defaults_to_true_and_survives_serialization() -> None:
    trigger = BatchJobCompleteTrigger(job_id="job-1", conn_id="c", deadline=0.0)
    assert trigger.serialize()[1]["terminate_on_kill"] is True
    kept = BatchJobCompleteTrigger(job_id="job-1", conn_id="c", deadline=0.0, terminate_on_kill=False)
    assert BatchJobCompleteTrigger(**kept.serialize()[1]).terminate_on_kill is False


def test_timed_out_recognizes_airflow_timeouts_and_nothing_else() -> None:
    from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferralTimeout

    def raised_from(err: BaseException, cause: BaseException) -> BaseException:
        err.__cause__ = cause
        return err

    assert timed_out(AirflowSensorTimeout("x"))
    assert timed_out(TaskDeferralTimeout("x"))
    assert timed_out(raised_from(AirflowSkipException("soft_fail"), AirflowSensorTimeout("x")))
    assert timed_out(AirflowSkipException("Sensor has timed out; run duration of 2 seconds exceeds 1."))
    assert not timed_out(AirflowSkipException("skipped by poke"))
    assert not timed_out(RuntimeError("boom"))
    assert not timed_out(None)


def test_a_failure_to_stop_after_a_timeout_never_hides_the_timeout() -> None:
    """No connection exists here: terminating fails, and the task still fails with its timeout."""
    from airflow_azure_compute.exceptions import DeadlineExceededError
    from airflow_azure_compute.sensors.batch import BatchJobSensor

    sensor = BatchJobSensor(task_id="wait", job_id="job-1", owns_job=True, azure_conn_id="no_such_conn")
    event = {"status": "timeout", "message": "job job-1: deadline passed"}
    with pytest.raises(DeadlineExceededError, match="deadline passed"):
        sensor.execute_complete({}, event)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "action"),
    [("disabled", "enable"), ("disabling", "wait"), ("active", "done"), ("enabling", "done"),
     ("completed", "done"), (None, "done")],
)  # fmt: skip
def test_gate_action_enables_a_held_job_and_waits_while_it_is_disabling(
    state: str | None, action: str
) -> None:
    from airflow_azure_compute.hooks.batch import gate_action

    assert gate_action({"state": state} if state else None) == action


class GateHook(RecordingHook):
    """Answers ``release_job`` with a scripted sequence (False: still disabling) and counts the tasks."""

    def __init__(self, answers: list[bool]) -> None:
        super().__init__()
        self.answers = answers

    async def release_job(self, client: Any, job_id: str) -> bool:
        self.calls.append(("release_job", job_id))
        return self.answers.pop(0)

    async def get_task_counts(self, client: Any, job_id: str) -> Any:
        from airflow_azure_compute.states import TaskCounts

        self.calls.append(("get_task_counts", job_id))
        return TaskCounts(0, 0, 2, 2, 0)


def test_a_held_job_is_released_by_the_first_poll_at_once_and_until_it_is() -> None:
    trigger = BatchJobCompleteTrigger(job_id="job-1", conn_id="c", deadline=9e9, poll_interval=30.0)
    assert 0 <= trigger.first_poll_delay() <= 30.0  # nothing held: the first poll is spread
    held = BatchJobCompleteTrigger(**{**trigger.serialize()[1], "release_job": True})
    assert held.first_poll_delay() == 0.0  # held tasks wait for the first poll
    hook = GateHook([False, True])
    held.hook = lambda: hook  # type: ignore[assignment,method-assign,return-value]

    async def three_polls() -> None:
        assert await held.poll(hook, "client") is not None  # type: ignore[arg-type]
        assert await held.poll(hook, "client") is not None  # type: ignore[arg-type]
        assert await held.poll(hook, "client") is not None  # type: ignore[arg-type]

    asyncio.run(three_polls())
    releases = [c for c in hook.calls if c[0] == "release_job"]
    assert releases == [("release_job", "job-1")] * 2  # asked again while disabling, then never
