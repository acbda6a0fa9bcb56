"""Running one task spec on one node through the runner: shared by the scheduler and pool allocation.

`TaskExecution` is the base of `PoolAllocation`
(start tasks) and so of `BatchEngine` (tasks, job
preparation and release tasks).
"""

from __future__ import annotations

import asyncio
import logging
from types import ModuleType
from typing import Any

import aiohttp

from airflow_azure_compute.emulator.batch.model import Job, Node, Pool, Task
from airflow_azure_compute.emulator.batch.mounts import MountManager
from airflow_azure_compute.emulator.batch.run_failures import TaskFailure
from airflow_azure_compute.emulator.batch.runner import TaskRunResult
from airflow_azure_compute.emulator.batch.wire import now, parse_duration

log = logging.getLogger("airflow_azure_compute.emulator.batch")


def _load_runner() -> ModuleType:
    from airflow_azure_compute.emulator.batch import runner

    return runner


class TaskExecution:
    """Builds the runner's ``TaskRunSpec`` from wire specs and runs it; the engine sets the attributes."""

    account_name: str
    account_url: str
    http: aiohttp.ClientSession | None
    mounts: MountManager
    _runner: Any

    @property
    def runner(self) -> Any:
        if self._runner is None:
            self._runner = _load_runner()
        return self._runner

    async def _execute(
        self,
        pool: Pool,
        node: Node,
        job: Job | None,
        kind: str,
        task_id: str,
        spec: dict[str, Any],
        extra_env: dict[str, str],
        task: Task | None = None,
    ) -> Any:
        env: dict[str, str] = {}
        if job is not None:
            env.update(
                {
                    e["name"]: str(e.get("value") or "")
                    for e in job.spec.get("commonEnvironmentSettings") or []
                }
            )
        env.update({e["name"]: str(e.get("value") or "") for e in spec.get("environmentSettings") or []})
        wall = (task.max_wall_clock() if task else None) or parse_duration(
            (spec.get("constraints") or {}).get("maxWallClockTime")
        )
        run_spec = self.runner.TaskRunSpec(
            account_name=self.account_name,
            account_url=self.account_url,
            pool_id=pool.id,
            node_id=node.id,
            is_dedicated=node.is_dedicated,
            node_root=node.root,
            job_id=job.id if job else None,
            task_id=task_id,
            kind=kind,
            command_line=str(spec.get("commandLine") or ""),
            environment=env,
            resource_files=list(spec.get("resourceFiles") or []),
            output_files=list(spec.get("outputFiles") or []),
            max_wall_clock_seconds=wall.total_seconds() if wall else None,
            container_settings=spec.get("containerSettings"),
            extra_env=extra_env,
            volumes=self.mounts.shared_dirs(pool.spec),
        )
        assert self.http is not None
        started = now()
        try:
            await self.mounts.before_run(pool.spec, node.root)
        except TaskFailure as mount_failure:
            return TaskRunResult(None, "failure", mount_failure.to_wire(), started, now(), node.root)
        try:
            result = await self.runner.run_task(run_spec, self.http)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a runner bug must not leave the task running forever
            log.exception("running %s %s failed", kind, task_id)
            failure = {
                "category": "servererror",
                "code": "EmulatorRunnerError",
                "message": f"{type(exc).__name__}: {exc}",
                "details": [],
            }
            return TaskRunResult(None, "failure", failure, started, now(), node.root)
        return await self._write_back(pool, node, result)

    async def _write_back(self, pool: Pool, node: Node, result: TaskRunResult) -> TaskRunResult:
        """Sync the node's blob mounts back; a failure to do so fails a run that had succeeded."""
        try:
            await self.mounts.after_run(pool.spec, node.root)
        except TaskFailure as write_failure:
            log.warning("blob mount write-back on %s failed: %s", node.id, write_failure.message)
            if result.failure_info is None:
                result.result, result.failure_info = "failure", write_failure.to_wire()
        return result
