"""find_blockage / blocked_tasks / evaluate_blockage: pure decisions on what the Batch wait read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_azure_compute.hooks.batch import drive_probe
from airflow_azure_compute.specs import FailurePolicy, JobSpec, TaskSpec
from airflow_azure_compute.states import (
    BlockageQuery,
    Outcome,
    TaskCounts,
    blocked_tasks,
    blocks_dependents,
    decide_job,
    evaluate_blockage,
    find_blockage,
    job_event,
)

JOB = {"id": "j", "state": "active", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
POOL = {"id": "p", "state": "active", "allocationState": "steady", "currentDedicatedNodes": 1}
FAILED = [{"id": "a", "executionInfo": {"exitCode": 3, "result": "failure"}}]
ACTIVE = [{"id": "b", "dependsOn": {"taskIds": ["a"]}}, {"id": "c", "dependsOn": {"taskIds": ["b"]}}]


def answers(
    job: Any = JOB, pool: Any = POOL, active: Any = ACTIVE, failed: Any = FAILED
) -> tuple[Callable[[BlockageQuery], Any], list[str]]:
    asked: list[str] = []

    def answer(query: BlockageQuery) -> Any:
        asked.append(query.kind)
        return {"job": job, "pool": pool, "active": active, "failed": failed}[query.kind]

    return answer, asked


def probe(counts: TaskCounts, **kw: Any) -> tuple[str | None, list[str]]:
    answer, asked = answers(**kw)
    return drive_probe(find_blockage("j", counts, prefix=None), answer), asked


STUCK = TaskCounts(active=2, running=0, completed=2, succeeded=1, failed=1)


def test_running_or_finished_work_costs_no_request() -> None:
    for counts in (TaskCounts(active=2, running=1), TaskCounts(completed=2, succeeded=2), TaskCounts()):
        assert probe(counts) == (None, [])


def test_blocked_by_a_failed_dependency_names_blockers_and_blocked() -> None:
    reason, asked = probe(STUCK)
    assert asked == ["job", "pool", "active", "failed"]
    assert reason == "2 task(s) can never run (b, c): blocked by failed dependencies a"


def test_a_runnable_task_means_not_stuck() -> None:
    active = [*ACTIVE, {"id": "d"}]  # no dependency: it will run once a node frees up
    assert probe(STUCK, active=active)[0] is None


def test_no_failures_skip_the_task_lists() -> None:
    reason, asked = probe(TaskCounts(active=2, completed=1, succeeded=1))
    assert reason is None and asked == ["job", "pool"]


@pytest.mark.parametrize(
    ("failed", "blocks"),
    [
        ({"executionInfo": {"exitCode": 3}}, True),
        (
            {
                "executionInfo": {"exitCode": 3},
                "exitConditions": {"default": {"dependencyAction": "satisfy"}},
            },
            False,
        ),
        (
            {
                "executionInfo": {"exitCode": 3},
                "exitConditions": {
                    "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "block"}}],
                    "default": {"dependencyAction": "satisfy"},
                },
            },
            True,
        ),
        (
            {
                "executionInfo": {"exitCode": 7},
                "exitConditions": {
                    "exitCodeRanges": [{"start": 5, "end": 9, "exitOptions": {"dependencyAction": "satisfy"}}]
                },
            },
            False,
        ),
        ({"executionInfo": {}}, True),  # pre-processing failure: no exit code, default applies
    ],
)
def test_dependency_action(failed: dict[str, Any], blocks: bool) -> None:
    assert blocks_dependents(failed) is blocks


def test_blocked_tasks_follow_ranges_and_case() -> None:
    active = [
        {"id": "T2", "dependsOn": {"taskIdRanges": [{"start": 1, "end": 1}]}},
        {"id": "t3", "dependsOn": {"taskIds": ["t2"]}},
    ]
    assert blocked_tasks(active, [{"id": "1", "executionInfo": {"exitCode": 1}}]) == (["T2", "t3"], ["1"])


@pytest.mark.parametrize(
    ("job", "pool", "expected"),
    [
        (None, POOL, "job j does not exist (deleted?) while 2 task(s) never ran"),
        (
            {**JOB, "state": "completed", "executionInfo": {"terminateReason": "TaskFailed"}},
            POOL,
            "job j is completed (TaskFailed)",
        ),
        (JOB, None, "pool p of job j does not exist"),
        (JOB, {**POOL, "state": "deleting"}, "pool p of job j is being deleted"),
        (JOB, {**POOL, "currentDedicatedNodes": 0}, "pool p of job j has zero nodes and no autoscale"),
    ],
)
def test_job_and_pool_blockage(job: Any, pool: Any, expected: str) -> None:
    reason, _ = probe(TaskCounts(active=2), job=job, pool=pool)
    assert reason is not None and reason.startswith(expected)


@pytest.mark.parametrize(
    "pool",
    [
        {**POOL, "currentDedicatedNodes": 0, "enableAutoScale": True},
        {**POOL, "currentDedicatedNodes": 0, "targetDedicatedNodes": 2},
        {**POOL, "currentDedicatedNodes": 0, "allocationState": "resizing"},
    ],
)
def test_pools_that_will_get_nodes_are_not_blocked(pool: dict[str, Any]) -> None:
    assert probe(TaskCounts(active=2), pool=pool)[0] is None


def test_blockage_decision_per_policy() -> None:
    for policy in (FailurePolicy.RUN_ALL, FailurePolicy.FAIL_FAST):
        decision = evaluate_blockage(STUCK, "why", expected=4, policy=policy)
        assert decision.outcome is Outcome.FAILED and "2 never ran: why" in decision.message
    tolerate = evaluate_blockage(STUCK, "why", expected=4, policy=FailurePolicy.TOLERATE, tolerate_percent=75)
    assert tolerate.outcome is Outcome.SUCCEEDED
    strict = evaluate_blockage(STUCK, "why", expected=4, policy=FailurePolicy.TOLERATE, tolerate_percent=50)
    assert strict.outcome is Outcome.FAILED


def test_the_job_decision_looks_for_blocked_work_only_while_the_counts_wait() -> None:
    answer, asked = answers()

    def decide(counts: TaskCounts, policy: FailurePolicy) -> Any:
        return drive_probe(decide_job("j", counts, prefix=None, expected=4, policy=policy), answer)

    failed_fast = decide(STUCK, FailurePolicy.FAIL_FAST)  # the counts decide: no request
    assert failed_fast.outcome is Outcome.FAILED and failed_fast.blockage is None and asked == []
    assert decide(TaskCounts(active=2, running=2), FailurePolicy.RUN_ALL) is None and asked == []
    blocked = decide(STUCK, FailurePolicy.RUN_ALL)
    assert asked == ["job", "pool", "active", "failed"]
    assert blocked.outcome is Outcome.FAILED and blocked.status == "failed"
    assert blocked.blockage == "2 task(s) can never run (b, c): blocked by failed dependencies a"
    assert blocked.message.endswith(blocked.blockage)


def test_a_job_event_carries_the_decision_counts_and_failed_tasks() -> None:
    done = decide_job("j", TaskCounts(completed=4, succeeded=4), prefix=None, expected=4)
    decision = drive_probe(done, answers()[0])
    assert decision.status == "success"
    event = job_event(
        decision.status, decision.message, job_id="j", task_id_prefix="p-", counts=TaskCounts(completed=4)
    )
    assert event == {
        "status": "success",
        "job_id": "j",
        "task_id_prefix": "p-",
        "counts": {"active": 0, "running": 0, "completed": 4, "succeeded": 0, "failed": 0},
        "failed_tasks": [],
        "message": "4/4 done, 0 failed",
    }


def test_specs_expose_on_task_failure_and_dependency_action() -> None:
    job = JobSpec(pool_id="p", on_task_failure="performexitoptionsjobaction").to_wire("j")
    assert job["onTaskFailure"] == "performexitoptionsjobaction"
    assert "onTaskFailure" not in JobSpec(pool_id="p").to_wire("j")
    task = TaskSpec(
        task_id="t", command_line="x", failure_dependency_action="satisfy", failure_job_action="none"
    )
    assert task.to_wire()["exitConditions"] == {
        "default": {"dependencyAction": "satisfy", "jobAction": "none"}
    }
    assert "exitConditions" not in TaskSpec(task_id="t", command_line="x").to_wire()
