"""Pool allocation: resizes, node boot and start tasks, autoscale, preemption, node removal.

A base of `BatchEngine`, which provides the task
side (``_requeue``, ``_complete``) and the loop that calls these methods when due; start tasks run
through `_execute`.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow_azure_compute.emulator.batch import autoscale
from airflow_azure_compute.emulator.batch.execution import TaskExecution
from airflow_azure_compute.emulator.batch.model import Job, Node, Pool, Task
from airflow_azure_compute.emulator.batch.wire import BatchError, iso, now, parse_duration

RETRYABLE_CODES = frozenset({"FailureExitCode"})
TASK_ENDED = {
    "category": "usererror",
    "code": "TaskEnded",
    "message": "The task was ended by user request",
    "details": [],
}


@dataclass
class Timings:
    """How fast simulated transitions happen (seconds of real time).

    :param node_boot_s: creating → starting → ready, split evenly between the two steps.
    :param resize_s: a resize stays ``resizing`` this long before nodes are added or removed.
    :param delete_s: pools and jobs stay ``deleting`` this long, then are gone.
    :param autoscale_interval_s: cap of the autoscale evaluation interval (Azure's minimum is 5 min).
    :param tick_s: scheduler period when nothing wakes it earlier.
    """

    node_boot_s: float = 0.3
    resize_s: float = 0.2
    delete_s: float = 0.2
    autoscale_interval_s: float = 1.0
    tick_s: float = 0.05


class PoolAllocation(TaskExecution, ABC):
    """Pool and node state changes; the engine supplies the hooks declared at the top."""

    pools: dict[str, Pool]
    jobs: dict[str, Job]
    timings: Timings
    workdir: Path

    @abstractmethod
    def wake(self) -> None:
        """Nudge the scheduler loop."""

    @abstractmethod
    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a tracked background task."""

    @abstractmethod
    def _requeue(self, task: Task) -> None:
        """Put a task that lost its node back in the queue."""

    @abstractmethod
    def _complete(self, task: Task, state: str, **execution: Any) -> None:
        """Record a task's end."""

    @staticmethod
    def _retryable(failure_info: dict[str, Any] | None) -> bool:
        return failure_info is not None and str(failure_info.get("code")) in RETRYABLE_CODES

    def create_pool(self, spec: dict[str, Any]) -> Pool:
        pool = Pool(id=spec["id"], spec=spec, base_url=self.account_url)
        pool.deallocation_option = "requeue"
        if spec.get("enableAutoScale"):
            formula = spec.get("autoScaleFormula")
            if not formula:
                raise BatchError(
                    400,
                    "MissingRequiredProperty",
                    "autoScaleFormula is required when enableAutoScale is true.",
                )
            self.enable_autoscale(pool, formula, spec.get("autoScaleEvaluationInterval"))
        else:
            self.resize(
                pool,
                int(spec.get("targetDedicatedNodes") or 0),
                int(spec.get("targetLowPriorityNodes") or 0),
                None,
            )
        self.pools[pool.id.lower()] = pool
        self.wake()
        return pool

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def resize(self, pool: Pool, dedicated: int, low: int, option: str | None) -> None:
        pool.target_dedicated, pool.target_low_priority = max(0, dedicated), max(0, low)
        if option:
            pool.deallocation_option = option
        pool.resize_errors = None
        pool.set_allocation("resizing")
        pool.resize_done_at = self._loop_time() + self.timings.resize_s
        pool.touch()
        self.wake()

    def stop_resize(self, pool: Pool) -> None:
        """Stop a resize: ``stopping`` for a moment, then ``steady`` with the nodes it has by then.

        The targets keep the requested values; a ``ResizeStopped`` resize error says which could
        not be reached (as the service reports it).
        """
        pool.resize_done_at = None
        pool.set_allocation("stopping")
        pool.stop_done_at = self._loop_time() + self.timings.resize_s
        self.wake()

    def _finish_stop_resize(self, pool: Pool) -> None:
        pool.stop_done_at = None
        errors = [
            {
                "code": "ResizeStopped",
                "message": f"Desired number of {kind} nodes could not be allocated as a stop resize was issued",
                "values": [],
            }
            for kind, target, dedicated in (
                ("dedicated", pool.target_dedicated, True),
                ("low priority", pool.target_low_priority, False),
            )
            if pool.current(dedicated) != target
        ]
        pool.resize_errors = errors or None
        pool.set_allocation("steady")

    def _finish_resize(self, pool: Pool) -> None:
        pool.resize_done_at = None
        if pool.injected_resize_error:
            pool.resize_errors = [dict(pool.injected_resize_error)]
            pool.set_allocation("steady")
            return
        for dedicated, target in ((True, pool.target_dedicated), (False, pool.target_low_priority)):
            members = [n for n in pool.nodes.values() if n.is_dedicated == dedicated and not n.leaving]
            for _ in range(target - len(members)):
                self._add_node(pool, dedicated)
            if len(members) > target:
                members.sort(key=lambda n: (len(n.running), n.state != "idle"))
                for node in members[: len(members) - target]:
                    self._release_node(pool, node)
        if not any(n.leaving for n in pool.nodes.values()):
            pool.set_allocation("steady")

    def remove_nodes(self, pool: Pool, nodes: list[Node], option: str | None) -> None:
        """Remove the given nodes (lowering the targets), applying the deallocation option."""
        if option:
            pool.deallocation_option = option
        for node in nodes:
            if node.is_dedicated:
                pool.target_dedicated = max(0, pool.target_dedicated - 1)
            else:
                pool.target_low_priority = max(0, pool.target_low_priority - 1)
        pool.set_allocation("resizing")
        for node in nodes:
            self._release_node(pool, node)
        self.wake()

    def disable_node_scheduling(self, node: Node, option: str) -> None:
        """No new tasks on ``node``; running ones are requeued, terminated or left (``taskcompletion``)."""
        node.scheduling_state = "disabled"
        for task in list(node.running.values()):
            if option == "requeue":
                self._requeue(task)
            elif option == "terminate":
                self._complete(
                    task, "completed", result="failure", failureInfo=dict(TASK_ENDED), exitCode=None
                )

    def reboot_node(self, pool: Pool, node: Node, option: str) -> None:
        """Restart ``node``: tasks per ``option``, then rebooting → starting → the pool's current start task."""
        self.disable_node_scheduling(node, "terminate" if option == "terminate" else "requeue")
        node.scheduling_state = "enabled"
        self._cancel_node_runs(node)
        node.start_task_info = None
        node.prepped_jobs = {
            key: status
            for key, status in node.prepped_jobs.items()
            if self._keeps_prep_after_reboot(key, status)
        }
        node.prep_runs.clear()
        node.set_state("rebooting")
        node.next_at = self._loop_time() + self.timings.node_boot_s / 2
        self.wake()

    def _keeps_prep_after_reboot(self, job_key: str, status: dict[str, Any]) -> bool:
        """A succeeded preparation task is not rerun after a reboot when its job says
        ``rerunOnNodeRebootAfterSuccess: false`` (the default, true, reruns it)."""
        job = self.jobs.get(job_key)
        prep = (job.spec.get("jobPreparationTask") or {}) if job else {}
        succeeded = (status.get("jobPreparationTaskExecutionInfo") or {}).get("result") == "success"
        return succeeded and prep.get("rerunOnNodeRebootAfterSuccess") is False

    def _add_node(self, pool: Pool, dedicated: bool) -> None:
        pool.node_counter += 1
        node_id = f"tvmps_{uuid.uuid4().hex[:20]}{pool.node_counter:04d}_{'d' if dedicated else 'p'}"
        node = Node(
            id=node_id,
            pool_id=pool.id,
            is_dedicated=dedicated,
            root=self.workdir / "batch" / pool.id / node_id,
            slots=pool.slots_per_node,
        )
        node.next_at = self._loop_time() + self.timings.node_boot_s / 2
        pool.nodes[node_id] = node

    def _release_node(self, pool: Pool, node: Node) -> None:
        option = pool.deallocation_option
        if option in ("taskcompletion", "retaineddata") and node.running:
            node.leaving = True
            node.set_state("leavingpool")
            return
        for task in list(node.running.values()):
            if option == "terminate":
                self._complete(
                    task, "completed", result="failure", failureInfo=dict(TASK_ENDED), exitCode=None
                )
            else:
                self._requeue(task)
        self._remove_node(pool, node)

    def _remove_node(self, pool: Pool, node: Node) -> None:
        self._cancel_node_runs(node)
        self.mounts.forget(node.root)
        pool.nodes.pop(node.id, None)
        pool.touch()

    def _cancel_node_runs(self, node: Node) -> None:
        if node.start_task_run:
            node.start_task_run.cancel()
        for run in node.prep_runs.values():
            run.cancel()

    def _advance_node(self, pool: Pool, node: Node) -> None:
        node.next_at = None
        if node.state in ("creating", "preempted", "rebooting"):
            node.set_state("starting")
            node.next_at = self._loop_time() + self.timings.node_boot_s / 2
            return
        if node.state == "starting":
            start_task = pool.spec.get("startTask")
            if not start_task:
                node.set_state("idle")
                return
            wait = start_task.get("waitForSuccess", True)
            node.set_state("waitingforstarttask" if wait else "idle")
            node.start_task_run = self._spawn(
                self._run_start_task(pool, node, start_task, wait), "start-task"
            )

    async def _run_start_task(self, pool: Pool, node: Node, spec: dict[str, Any], wait: bool) -> None:
        retries = int(spec.get("maxTaskRetryCount") or 0)
        attempt = 0
        while True:
            node.start_task_info = {"state": "running", "startTime": iso(now()), "retryCount": attempt}
            result = await self._execute(pool, node, None, "start", "starttask", spec, {})
            info: dict[str, Any] = {
                "state": "completed",
                "startTime": iso(result.start_time),
                "endTime": iso(result.end_time),
                "retryCount": attempt,
                "result": result.result,
            }
            if result.exit_code is not None:
                info["exitCode"] = result.exit_code
            if result.failure_info:
                info["failureInfo"] = result.failure_info
            node.start_task_info = info
            if result.result == "success":
                if node.state == "waitingforstarttask":
                    node.set_state("idle")
                break
            if self._retryable(result.failure_info) and (retries == -1 or attempt < retries):
                attempt += 1
                continue
            if wait:
                node.set_state("starttaskfailed")
            break
        self.wake()

    def enable_autoscale(self, pool: Pool, formula: str, interval: str | None) -> None:
        try:
            parsed = parse_duration(interval) if interval else timedelta(minutes=15)
        except ValueError as exc:
            raise BatchError(
                400, "InvalidPropertyValue", str(exc), {"PropertyName": "autoScaleEvaluationInterval"}
            ) from exc
        try:
            autoscale.evaluate(formula, self._metrics(pool))
        except autoscale.FormulaError as exc:
            raise BatchError(400, "AutoScalingFormulaSyntaxError", str(exc)) from exc
        pool.enable_autoscale = True
        pool.autoscale_formula = formula
        pool.autoscale_interval = parsed or timedelta(minutes=15)
        pool.touch()
        self._autoscale(pool)

    def disable_autoscale(self, pool: Pool) -> None:
        pool.enable_autoscale = False
        pool.autoscale_next_at = None
        pool.autoscale_run = None  # the service drops the last evaluation with autoscale
        pool.touch()

    def _metrics(self, pool: Pool) -> dict[str, float]:
        active = running = succeeded = failed = 0
        for job in self.jobs.values():
            if job.pool_id.lower() == pool.id.lower() and job.state == "active":
                active += job.counts.tasks["active"]
                running += job.counts.tasks["running"]
                succeeded += job.counts.tasks["succeeded"]
                failed += job.counts.tasks["failed"]
        return {
            "$PendingTasks": active + running,
            "$ActiveTasks": active,
            "$RunningTasks": running,
            "$SucceededTasks": succeeded,
            "$FailedTasks": failed,
            "$CurrentDedicatedNodes": pool.current(True),
            "$CurrentLowPriorityNodes": pool.current(False),
            "$TargetDedicatedNodes": pool.target_dedicated,
            "$TargetLowPriorityNodes": pool.target_low_priority,
        }

    def evaluate_autoscale(self, pool: Pool, formula: str) -> dict[str, Any]:
        """An AutoScaleRun for ``formula`` without applying it."""
        try:
            result = autoscale.evaluate(formula, self._metrics(pool))
        except autoscale.FormulaError as exc:
            return {
                "timestamp": iso(now()),
                "error": {
                    "code": "AutoScalingFormulaSyntaxError",
                    "message": str(exc),
                    "values": [{"name": "Formula", "value": formula[:200]}],
                },
            }
        return {"timestamp": iso(now()), "results": result.results_text()}

    def _autoscale(self, pool: Pool) -> None:
        assert pool.autoscale_formula is not None
        interval = min(pool.autoscale_interval.total_seconds(), self.timings.autoscale_interval_s)
        pool.autoscale_next_at = self._loop_time() + interval
        run = self.evaluate_autoscale(pool, pool.autoscale_formula)
        pool.autoscale_run = run
        if "error" in run or pool.allocation_state != "steady":
            return
        result = autoscale.evaluate(pool.autoscale_formula, self._metrics(pool))
        if (result.target_dedicated, result.target_low_priority) != (
            pool.target_dedicated,
            pool.target_low_priority,
        ):
            self.resize(pool, result.target_dedicated, result.target_low_priority, result.deallocation)

    def delete_pool(self, pool: Pool) -> None:
        pool.state, pool.state_time = "deleting", now()
        pool.touch()
        for node in list(pool.nodes.values()):
            for task in list(node.running.values()):
                self._requeue(task)
            self._cancel_node_runs(node)
        pool.gone_at = self._loop_time() + self.timings.delete_s

    def preempt_node(self, pool: Pool, node: Node, recover_after_s: float | None) -> None:
        """Preempt ``node``: running tasks go back to active (requeueCount++); it reboots later."""
        for task in list(node.running.values()):
            self._requeue(task)
        self._cancel_node_runs(node)
        node.set_state("preempted")
        node.prepped_jobs.clear()
        node.prep_runs.clear()
        node.next_at = None if recover_after_s is None else self._loop_time() + recover_after_s
        self.wake()
