"""The Batch scheduler with a tiny fake runner: slots, retries, requeues, dependencies, counts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.emulator.batch import runner as real_runner
from airflow_azure_compute.emulator.batch.engine import BatchEngine, Timings
from airflow_azure_compute.emulator.batch.model import Job


class FakeRunner:
    """Commands: ``ok``, ``fail``, ``sleep S``; records concurrency per node."""

    TaskRunSpec = real_runner.TaskRunSpec

    def __init__(self) -> None:
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.runs: list[str] = []
        self.total = 0
        self.total_peak = 0

    @staticmethod
    def task_dir_for(node_root: Path, job_id: str | None, task_id: str, kind: str) -> Path:
        return node_root / (job_id or "start") / task_id

    async def run_task(self, spec: real_runner.TaskRunSpec, http: Any) -> real_runner.TaskRunResult:
        started = datetime.now(timezone.utc)
        self.runs.append(f"{spec.kind}:{spec.task_id}")
        self.running[spec.node_id] = self.running.get(spec.node_id, 0) + 1
        self.peak[spec.node_id] = max(self.peak.get(spec.node_id, 0), self.running[spec.node_id])
        self.total += 1
        self.total_peak = max(self.total_peak, self.total)
        try:
            word, _, arg = spec.command_line.partition(" ")
            if word == "sleep":
                await asyncio.sleep(float(arg))
            failed = word == "fail"
        finally:
            self.running[spec.node_id] -= 1
            self.total -= 1
        failure = {"category": "usererror", "code": "FailureExitCode", "message": "x", "details": []}
        return real_runner.TaskRunResult(
            exit_code=1 if failed else 0,
            result="failure" if failed else "success",
            failure_info=failure if failed else None,
            start_time=started,
            end_time=datetime.now(timezone.utc),
            task_dir=Path("/nowhere"),
        )


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    runner = FakeRunner()
    eng = BatchEngine(
        account_name="acct",
        workdir=tmp_path,
        timings=Timings(node_boot_s=0.02, resize_s=0.01, delete_s=0.01, tick_s=0.01),
        runner=runner,
    )
    eng.account_url = "http://emulator"
    await eng.start()
    yield eng, runner
    await eng.stop()


async def _until(check: Any, timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _setup(eng: BatchEngine, *, nodes: int = 1, slots: int = 2, **job_spec: Any) -> Job:
    eng.create_pool({"id": "P", "vmSize": "s", "targetDedicatedNodes": nodes, "taskSlotsPerNode": slots})
    return eng.create_job({"id": "J", "poolInfo": {"poolId": "p"}, **job_spec})


def _add(eng: BatchEngine, job: Job, task_id: str, command: str, **spec: Any) -> None:
    eng.add_task(job, {"id": task_id, "commandLine": command, **spec})


async def test_tasks_fill_slots_and_counts_stay_consistent(engine: Any) -> None:
    eng, runner = engine
    job = _setup(eng, nodes=2, slots=2)
    for i in range(9):
        _add(eng, job, f"t{i}", "sleep 0.05")
    await _until(lambda: job.counts.tasks["completed"] == 9)
    assert job.counts.wire()["taskCounts"] == {
        "active": 0,
        "running": 0,
        "completed": 9,
        "succeeded": 9,
        "failed": 0,
    }
    assert max(runner.peak.values()) == 2 and len(runner.peak) == 2
    pool = eng.pools["p"]
    assert all(n.used_slots == 0 and n.state == "idle" for n in pool.nodes.values())
    assert sum(n.total_tasks_run for n in pool.nodes.values()) == 9


async def test_retries_up_to_the_limit(engine: Any) -> None:
    eng, runner = engine
    job = _setup(eng, constraints={"maxTaskRetryCount": 2})
    _add(eng, job, "bad", "fail")
    await _until(lambda: job.tasks["bad"].state == "completed")
    info = job.tasks["bad"].execution
    assert info["retryCount"] == 2 and info["result"] == "failure" and info["exitCode"] == 1
    assert runner.runs.count("task:bad") == 3
    assert job.counts.tasks["failed"] == 1


async def test_preemption_requeues_and_the_task_finishes(engine: Any) -> None:
    eng, _ = engine
    job = _setup(eng)
    _add(eng, job, "slow", "sleep 0.2")
    await _until(lambda: job.tasks["slow"].state == "running")
    pool = eng.pools["p"]
    node = next(iter(pool.nodes.values()))
    eng.preempt_node(pool, node, 0.02)
    task = job.tasks["slow"]
    assert task.state == "active" and task.execution["requeueCount"] == 1 and node.used_slots == 0
    await _until(lambda: task.state == "completed")
    assert task.execution["result"] == "success"


async def test_dependencies_wait_for_success(engine: Any) -> None:
    eng, runner = engine
    job = _setup(eng, nodes=1, slots=4, usesTaskDependencies=True)
    _add(eng, job, "child", "ok", dependsOn={"taskIds": ["Parent"]})
    _add(eng, job, "parent", "sleep 0.05")
    _add(eng, job, "orphan", "ok", dependsOn={"taskIdRanges": [{"start": 1, "end": 2}]})
    await _until(lambda: job.tasks["child"].state == "completed")
    assert runner.runs.index("task:child") > runner.runs.index("task:parent")
    assert job.tasks["orphan"].state == "active"  # tasks 1 and 2 never exist


async def test_terminate_and_all_tasks_complete(engine: Any) -> None:
    eng, _ = engine
    job = _setup(eng, onAllTasksComplete="terminatejob")
    _add(eng, job, "a", "ok")
    _add(eng, job, "b", "sleep 5")
    await _until(lambda: job.tasks["b"].state == "running")
    eng.terminate_task(job.tasks["b"])
    assert job.tasks["b"].execution["failureInfo"]["code"] == "TaskEnded"
    await _until(lambda: job.state == "completed")
    assert job.execution["terminateReason"] == "AllTasksComplete"


async def test_resize_down_requeues_and_autoscale_scales_up(engine: Any) -> None:
    eng, _ = engine
    job = _setup(eng, nodes=1, slots=1)
    _add(eng, job, "long", "sleep 0.3")
    await _until(lambda: job.tasks["long"].state == "running")
    pool = eng.pools["p"]
    eng.resize(pool, 0, 0, "requeue")
    await _until(lambda: pool.allocation_state == "steady" and not pool.nodes)
    assert job.tasks["long"].state == "active" and job.tasks["long"].execution["requeueCount"] == 1
    eng.enable_autoscale(pool, "$TargetDedicatedNodes = min(3, $PendingTasks.GetSample(1));", "PT5M")
    await _until(lambda: job.tasks["long"].state == "completed")
    assert pool.target_dedicated == 1


async def test_fan_in_over_a_large_range_is_cheap(engine: Any) -> None:
    eng, runner = engine
    job = _setup(eng, nodes=2, slots=50, usesTaskDependencies=True)
    _add(eng, job, "merge", "ok", dependsOn={"taskIdRanges": [{"start": 0, "end": 1999}]})
    for i in range(2000):
        _add(eng, job, str(i), "ok")
    await _until(lambda: job.tasks["merge"].state == "completed", timeout=20)
    assert runner.runs[-1] == "task:merge"
    assert not job.blocked and not job.waiting


async def test_max_parallel_tasks_caps_running(engine: Any) -> None:
    eng, runner = engine
    job = _setup(eng, nodes=2, slots=4, maxParallelTasks=2)
    for i in range(6):
        _add(eng, job, f"t{i}", "sleep 0.05")
    await _until(lambda: job.counts.tasks["completed"] == 6)
    assert runner.total_peak == 2


async def test_task_needing_more_slots_than_a_node_does_not_block_others(engine: Any) -> None:
    eng, _ = engine
    job = _setup(eng, nodes=1, slots=2)
    _add(eng, job, "huge", "ok", requiredSlots=3)
    _add(eng, job, "small", "ok", requiredSlots=2)
    await _until(lambda: job.tasks["small"].state == "completed")
    assert job.tasks["huge"].state == "active"
    assert job.counts.slots["completed"] == 2 and job.counts.slots["active"] == 3


async def test_on_task_failure_terminates_the_job(engine: Any) -> None:
    eng, _ = engine
    job = _setup(eng, onTaskFailure="performexitoptionsjobaction")
    _add(eng, job, "bad", "fail")
    _add(eng, job, "later", "sleep 5")
    await _until(lambda: job.state == "completed")
    assert job.execution["terminateReason"] == "TaskFailed"
    assert job.tasks["later"].state == "completed"
    assert job.tasks["later"].execution["failureInfo"]["code"] == "TaskEnded"


async def test_job_preparation_runs_once_per_node(engine: Any) -> None:
    eng, runner = engine
    job = _setup(
        eng,
        nodes=1,
        slots=2,
        jobPreparationTask={"commandLine": "sleep 0.05"},
        jobReleaseTask={"commandLine": "ok"},
    )
    for i in range(4):
        _add(eng, job, f"t{i}", "ok")
    await _until(lambda: job.counts.tasks["completed"] == 4)
    assert runner.runs.count("jobprep:jobpreparation") == 1
    eng.terminate_job(job, "UserTerminate")
    await _until(lambda: job.state == "completed")
    assert runner.runs.count("jobrelease:jobrelease") == 1
    status = next(iter(job.prep_status.values()))
    assert status["jobPreparationTaskExecutionInfo"]["result"] == "success"
    assert status["jobReleaseTaskExecutionInfo"]["state"] == "completed"


async def test_stop_resize_is_stopping_then_steady_with_resize_stopped(engine: Any) -> None:
    eng, _ = engine
    eng.create_pool({"id": "S", "vmSize": "s", "targetDedicatedNodes": 0})
    pool = eng.pools["s"]
    await _until(lambda: pool.allocation_state == "steady")
    eng.resize(pool, 2, 0, None)
    eng.stop_resize(pool)
    assert pool.allocation_state == "stopping"
    await _until(lambda: pool.allocation_state == "steady")
    assert (pool.target_dedicated, pool.current(True)) == (2, 0)
    assert [e["code"] for e in pool.resize_errors] == ["ResizeStopped"]
    assert pool.wire()["resizeErrors"][0]["code"] == "ResizeStopped"
