"""Every branch of the pure per-poll decisions (tasks and pools) and the progress line."""

from __future__ import annotations

import pytest

from airflow_azure_compute.specs import FailurePolicy
from airflow_azure_compute.states import (
    Outcome,
    TaskCounts,
    allowed_failures,
    evaluate_pool,
    evaluate_tasks,
    failed_tasks_filter,
    progress_line,
)

FF, TOL, ALL = FailurePolicy.FAIL_FAST, FailurePolicy.TOLERATE, FailurePolicy.RUN_ALL


@pytest.mark.parametrize(
    ("counts", "expected", "policy", "pct", "outcome"),
    [
        (TaskCounts(active=5), 5, FF, 0, Outcome.WAITING),  # nothing done yet
        (TaskCounts(completed=3, succeeded=3), 5, FF, 0, Outcome.WAITING),  # counts lag the fan-out
        (TaskCounts(completed=5, succeeded=5), 5, FF, 0, Outcome.SUCCEEDED),
        (TaskCounts(running=1, completed=4, succeeded=3, failed=1), 5, FF, 0, Outcome.FAILED),  # fail fast
        (TaskCounts(running=1, completed=4, succeeded=3, failed=1), 5, ALL, 0, Outcome.WAITING),  # run all
        (TaskCounts(completed=5, succeeded=4, failed=1), 5, ALL, 0, Outcome.FAILED),
        (TaskCounts(completed=10, succeeded=9, failed=1), 10, TOL, 10, Outcome.SUCCEEDED),  # 10% of 10 = 1
        (TaskCounts(running=5, completed=5, succeeded=3, failed=2), 10, TOL, 10, Outcome.FAILED),  # early
        (TaskCounts(running=5, completed=5, succeeded=4, failed=1), 10, TOL, 10, Outcome.WAITING),
        (TaskCounts(), None, FF, 0, Outcome.WAITING),  # empty job, size unknown: keep waiting
        (TaskCounts(), 0, FF, 0, Outcome.SUCCEEDED),  # nothing expected
        (TaskCounts(completed=7, succeeded=7), None, FF, 0, Outcome.SUCCEEDED),  # whole job mode
    ],
)
def test_evaluate_tasks(
    counts: TaskCounts, expected: int | None, policy: FailurePolicy, pct: float, outcome: Outcome
) -> None:
    assert evaluate_tasks(counts, expected=expected, policy=policy, tolerate_percent=pct).outcome is outcome


def test_allowed_failures() -> None:
    assert allowed_failures(TOL, 200, 2.5) == 5
    assert allowed_failures(FF, 200, 50) == 0
    assert allowed_failures(ALL, 200, 50) == 0


def test_counts_from_states() -> None:
    counts = TaskCounts.from_states(
        [
            ("active", None),
            ("preparing", None),
            ("running", None),
            ("completed", "success"),
            ("completed", "failure"),
        ]
    )
    assert counts == TaskCounts(active=1, running=2, completed=2, succeeded=1, failed=1)


def test_progress_line() -> None:
    line = progress_line(
        TaskCounts(running=2, completed=50, succeeded=49, failed=1), 100, rate=5.0, elapsed=75
    )
    assert "50/100 done (50.0%)" in line and "2 running" in line and "1 failed" in line
    assert "5.0 tasks/s" in line and "ETA 10s" in line and "elapsed 1m15s" in line
    assert "rate n/a" in progress_line(TaskCounts(active=3), 3, rate=None, elapsed=0)


POOL = {"id": "p", "state": "active", "allocationState": "resizing", "targetDedicatedNodes": 2}


@pytest.mark.parametrize(
    ("pool", "nodes", "need", "outcome"),
    [
        (POOL, [], 1, Outcome.WAITING),
        (POOL, ["starting", "idle"], 1, Outcome.SUCCEEDED),
        (POOL, ["idle", "running"], 2, Outcome.SUCCEEDED),
        (POOL, ["idle", "waitingforstarttask"], 2, Outcome.WAITING),
        (POOL, ["idle", "starttaskfailed"], 1, Outcome.FAILED),
        (POOL, ["unusable"], 1, Outcome.FAILED),
        ({**POOL, "resizeErrors": [{"code": "AllocationFailed", "message": "quota"}]}, [], 1, Outcome.FAILED),
        ({**POOL, "state": "deleting"}, [], 1, Outcome.FAILED),
        ({**POOL, "allocationState": "steady", "targetDedicatedNodes": 1}, ["idle"], 2, Outcome.FAILED),
        ({**POOL, "allocationState": "steady", "enableAutoScale": True}, [], 1, Outcome.WAITING),
    ],
)
def test_evaluate_pool(pool: dict[str, object], nodes: list[str], need: int, outcome: Outcome) -> None:
    assert evaluate_pool(pool, nodes, min_ready_nodes=need).outcome is outcome


def test_resize_error_message_names_code() -> None:
    bad = {**POOL, "resizeErrors": [{"code": "AllocationFailed", "message": "quota"}]}
    assert "AllocationFailed" in evaluate_pool(bad, [], min_ready_nodes=1).message


def test_failed_filter() -> None:
    assert failed_tasks_filter() == "executionInfo/result eq 'failure'"
    assert failed_tasks_filter("p-") == "startswith(id,'p-') and executionInfo/result eq 'failure'"
