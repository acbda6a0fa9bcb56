"""A deferred sensor's timeout event honours ``soft_fail``, as Airflow's own sensors do.

The triggerer resumes a deferred task through ``BaseSensorOperator.resume_execution``, which turns an
``AirflowException`` raised by the completion method into a skip when ``soft_fail`` is set. Our timeout
is a ``DeadlineExceededError`` (an ``AirflowException``): these tests resume both sensors with the
timeout event a trigger sends, with and without ``soft_fail``. Nothing here makes a request: the
timeout path needs none (no failed tasks to inspect, no job or orchestration to terminate or purge).
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.exceptions import AirflowSkipException

from airflow_azure_compute.exceptions import DeadlineExceededError
from airflow_azure_compute.sensors.batch import BatchJobSensor
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor


def _batch(**kw: Any) -> BatchJobSensor:
    return BatchJobSensor(
        task_id="wait", job_id="job-1", task_id_prefix="fan-", terminate_on_kill=False, **kw
    )


def _durable(**kw: Any) -> DurableOrchestrationSensor:
    return DurableOrchestrationSensor(task_id="wait", instance_id="inst-1", terminate_on_kill=False, **kw)


BATCH_TIMEOUT = {"status": "timeout", "message": "job job-1: deadline passed with 3 of 10 tasks done"}
DURABLE_TIMEOUT = {"status": "timeout", "instance_id": "inst-1", "message": "deadline passed"}


@pytest.mark.parametrize(("make", "event"), [(_batch, BATCH_TIMEOUT), (_durable, DURABLE_TIMEOUT)])
def test_deferred_timeout_fails_without_soft_fail(make: Any, event: dict[str, Any]) -> None:
    with pytest.raises(DeadlineExceededError, match="deadline"):
        make().resume_execution("execute_complete", {"event": event}, {})


@pytest.mark.parametrize(("make", "event"), [(_batch, BATCH_TIMEOUT), (_durable, DURABLE_TIMEOUT)])
def test_deferred_timeout_skips_with_soft_fail(make: Any, event: dict[str, Any]) -> None:
    with pytest.raises(AirflowSkipException):
        make(soft_fail=True).resume_execution("execute_complete", {"event": event}, {})
