"""The Batch scheduler: task placement on slots, retries, dependencies, job lifecycle.

Pool allocation, node boot and autoscale live in `.allocation` (a mixin of `BatchEngine`).

One asyncio loop (`BatchEngine.run_loop`) advances every timed transition (resize, node boot,
deletion, autoscale, job wall clock) and places ready tasks onto free slots of idle/running nodes of
the job's pool. Task processes are run by ``runner.run_task`` (``batch/runner.py``), one asyncio task per
attempt; abandoning an attempt (terminate, requeue, delete) cancels it, which kills its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from airflow_azure_compute.emulator.batch import multi_instance
from airflow_azure_compute.emulator.batch.allocation import TASK_ENDED, PoolAllocation, Timings
from airflow_azure_compute.emulator.batch.model import Job, Node, Pool, Task
from airflow_azure_compute.emulator.batch.mounts import MountManager
from airflow_azure_compute.emulator.batch.wire import iso, now, parse_duration

log = logging.getLogger("airflow_azure_compute.emulator.batch")


#: failureInfo codes of a task that never ran its command (``exitConditions.preProcessingError``).
PRE_PROCESSING_CODES = frozenset(
    {
        "BlobNotFound",
        "BlobAccessDenied",
        "ResourceDownloadFailed",
        "InvalidResourceFile",
        "AutoStorageAccountNotConfigured",
        "CommandProgramNotFound",
        "InvalidCommandLine",
        "MountFailed",
    }
)
#: failureInfo codes of an output file upload failure (``exitConditions.fileUploadError``).
UPLOAD_CODES = frozenset({"FileUploadContainerNotFound", "FileUploadFailed", "InvalidOutputFile"})
#: ``terminateReason`` of a job ended by its job manager task (``killJobOnCompletion``).
JOB_MANAGER_COMPLETE = "JMComplete"


def exit_options(task: Task) -> dict[str, Any]:
    """The ``exitOptions`` Batch applies to a completed task: the first ``exitCodes`` or
    ``exitCodeRanges`` entry matching its exit code, else ``preProcessingError`` (the command never
    ran) or ``fileUploadError`` (an output upload failed) when set, else ``default`` for a failure
    ({} for success)."""
    conditions = task.spec.get("exitConditions") or {}
    code = task.execution.get("exitCode")
    failure = (task.execution.get("failureInfo") or {}).get("code")
    if code is None and failure in PRE_PROCESSING_CODES and conditions.get("preProcessingError"):
        return dict(conditions["preProcessingError"])
    if code is not None:
        for entry in conditions.get("exitCodes") or []:
            if int(entry.get("code", -1)) == int(code):
                return dict(entry.get("exitOptions") or {})
        for entry in conditions.get("exitCodeRanges") or []:
            if int(entry.get("start", 0)) <= int(code) <= int(entry.get("end", -1)):
                return dict(entry.get("exitOptions") or {})
    if failure in UPLOAD_CODES and conditions.get("fileUploadError"):
        return dict(conditions["fileUploadError"])
    if task.execution.get("result") == "success":
        return {}
    return dict(conditions.get("default") or {})


def satisfies_dependents(task: Task) -> bool:
    """Batch's ``dependencyAction``: ``satisfy`` by default for a success, ``block`` for a failure."""
    if task.state != "completed":
        return False
    default = "satisfy" if task.execution.get("result") == "success" else "block"
    return (exit_options(task).get("dependencyAction") or default) == "satisfy"


class BatchEngine(PoolAllocation):
    """All Batch state of one account, and the loop that moves it forward (pools: `PoolAllocation`)."""

    def __init__(
        self,
        *,
        account_name: str,
        workdir: Path,
        timings: Timings | None = None,
        runner: Any = None,
        blob_endpoint: str | None = None,
    ) -> None:
        self.account_name = account_name
        self.account_url = ""
        self.workdir = workdir
        self.timings = timings or Timings()
        self._runner = runner
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.http: aiohttp.ClientSession | None = None
        self.mounts = MountManager(workdir, blob_endpoint)

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        self._loop_task = asyncio.create_task(self.run_loop(), name="batch-scheduler")

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
        self.reset()
        pending = [t for t in self._background if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        if self.http:
            await self.http.close()

    def reset(self) -> None:
        for job in list(self.jobs.values()):
            for task in list(job.tasks.values()):
                self._abandon(task)
        for pool in list(self.pools.values()):
            for node in pool.nodes.values():
                self._cancel_node_runs(node)
        self.pools.clear()
        self.jobs.clear()

    def wake(self) -> None:
        self._wake.set()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def run_loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.timings.tick_s)
            self._wake.clear()
            try:
                self.step()
            except Exception:
                log.exception("scheduler step failed")

    def step(self) -> None:
        """Advance every due transition, then place ready tasks (one scheduler pass)."""
        t = asyncio.get_running_loop().time()
        for key, pool in list(self.pools.items()):
            if pool.gone_at is not None:
                if t >= pool.gone_at:
                    del self.pools[key]
                continue
            if pool.resize_done_at is not None and t >= pool.resize_done_at:
                self._finish_resize(pool)
            if pool.stop_done_at is not None and t >= pool.stop_done_at:
                self._finish_stop_resize(pool)
            if pool.enable_autoscale and pool.autoscale_next_at is not None and t >= pool.autoscale_next_at:
                self._autoscale(pool)
            for node in list(pool.nodes.values()):
                if node.next_at is not None and t >= node.next_at:
                    self._advance_node(pool, node)
                if node.leaving and not node.running:
                    self._remove_node(pool, node)
            settled = pool.resize_done_at is None and not any(n.leaving for n in pool.nodes.values())
            if pool.allocation_state == "resizing" and settled:
                pool.set_allocation("steady")
        for key, job in list(self.jobs.items()):
            if job.gone_at is not None:
                if t >= job.gone_at:
                    del self.jobs[key]
                continue
            if job.state == "active":
                limit = parse_duration((job.spec.get("constraints") or {}).get("maxWallClockTime"))
                if limit is not None and now() - job.creation_time > limit:
                    self.terminate_job(job, "MaxWallClockTimeExpiry")
        self.schedule()

    # ----------------------------------------------------------------- jobs
    def create_job(self, spec: dict[str, Any]) -> Job:
        job = Job(id=spec["id"], spec=spec, base_url=self.account_url)
        auto = (spec.get("poolInfo") or {}).get("autoPoolSpecification")
        if auto:
            job.auto_pool_id = self._create_auto_pool(auto)
            job.execution["poolId"] = job.auto_pool_id
        self.jobs[job.key] = job
        manager = spec.get("jobManagerTask")
        if manager:
            # Batch runs the job manager as the job's first task (listed with the others)
            task = self.add_task(job, dict(manager))
            task.job_manager = True
        return job

    def _create_auto_pool(self, auto: dict[str, Any]) -> str:
        """The pool of an ``autoPoolSpecification``: ``{autoPoolIdPrefix}_{guid}``, as Batch names it."""
        prefix = str(auto.get("autoPoolIdPrefix") or "")
        pool_id = f"{prefix}_{uuid.uuid4()}" if prefix else str(uuid.uuid4())
        self.create_pool({**auto["pool"], "id": pool_id})
        return pool_id

    def _retire_auto_pool(self, job: Job) -> None:
        """Delete a job's auto pool when the job ends, unless ``keepAlive`` asks to keep it."""
        auto = (job.spec.get("poolInfo") or {}).get("autoPoolSpecification") or {}
        pool = self.pools.get((job.auto_pool_id or "").lower())
        if pool is not None and not auto.get("keepAlive") and pool.state != "deleting":
            self.delete_pool(pool)

    def terminate_job(self, job: Job, reason: str) -> None:
        job.set_state("terminating")
        job.execution["terminateReason"] = reason
        for task in list(job.tasks.values()):
            if task.state != "completed":
                self._complete(
                    task, "completed", result="failure", failureInfo=dict(TASK_ENDED), exitCode=None
                )
        self._spawn(self._release_job(job), f"job-release-{job.id}")

    async def _release_job(self, job: Job) -> None:
        release = job.spec.get("jobReleaseTask")
        if release:
            runs = []
            for pool in list(self.pools.values()):
                for node in list(pool.nodes.values()):
                    if job.key in node.prepped_jobs:
                        runs.append(self._run_release(job, pool, node, release))
            await asyncio.gather(*runs, return_exceptions=True)
        if job.state == "terminating":
            job.set_state("completed")
            job.execution["endTime"] = iso(now())
            self._retire_auto_pool(job)

    async def _run_release(self, job: Job, pool: Pool, node: Node, spec: dict[str, Any]) -> None:
        status = job.prep_status.setdefault(node.id, {"poolId": pool.id, "nodeId": node.id})
        status["jobReleaseTaskExecutionInfo"] = {"state": "running", "startTime": iso(now())}
        task_id = spec.get("id") or "jobrelease"
        result = await self._execute(pool, node, job, "jobrelease", task_id, spec, self._prep_env(job, node))
        node_url = f"{pool.url}/nodes/{node.id}"
        status["jobReleaseTaskExecutionInfo"] = self._phase_info(result, node_url, job.id, task_id)

    def disable_job(self, job: Job, option: str) -> None:
        """Stop scheduling ``job``; running tasks are requeued, terminated or left to finish.

        As on Azure, the job is ``disabling`` until its running tasks have been dealt with: at once for
        ``requeue`` and ``terminate``; for ``wait``, until the last of them completes.
        """
        job.set_state("disabling")
        for task in list(job.tasks.values()):
            if task.state in ("running", "preparing"):
                if option == "requeue":
                    self._requeue(task)
                elif option == "terminate":
                    self._complete(
                        task, "completed", result="failure", failureInfo=dict(TASK_ENDED), exitCode=None
                    )
        self._settle_disabling(job)

    @staticmethod
    def _settle_disabling(job: Job) -> None:
        if job.state == "disabling" and not job.counts.tasks["running"]:
            job.set_state("disabled")

    def delete_job(self, job: Job) -> None:
        job.set_state("deleting")
        self._retire_auto_pool(job)
        for task in list(job.tasks.values()):
            self._abandon(task)
        job.queue.clear()
        job.blocked.clear()
        job.waiting.clear()
        job.gone_at = self._loop_time() + self.timings.delete_s

    # ----------------------------------------------------------------- tasks
    def add_task(self, job: Job, spec: dict[str, Any], created: datetime | None = None) -> Task:
        task = Task(id=spec["id"], job=job, spec=spec, last_modified=created or now())
        job.add_task(task)
        self.wake()
        return task

    def terminate_task(self, task: Task) -> None:
        if task.state == "completed":
            return
        self._complete(task, "completed", result="failure", failureInfo=dict(TASK_ENDED), exitCode=None)

    def reactivate_task(self, task: Task) -> None:
        job = task.job
        job.set_task_state(
            task,
            "active",
            retryCount=0,
            exitCode=None,
            failureInfo=None,
            result=None,
            endTime=None,
            startTime=None,
        )
        task.node_info = None
        job.queue.append(task)
        self.wake()

    def delete_task(self, task: Task) -> None:
        self._abandon(task)
        task.job.remove_task(task)
        self.wake()

    def _abandon(self, task: Task) -> None:
        """Stop the current attempt of ``task`` (if any) and give its slots back."""
        task.generation += 1
        if task.run is not None:
            task.run.cancel()
            task.run = None
        for node in [task.node, *task.other_nodes] if task.node is not None else []:
            if node.running.pop((task.job.key, task.key), None) is not None:
                node.used_slots -= task.required_slots
            node.refresh_busy_state()
        if task.node is not None:
            task.node, task.other_nodes = None, []
            self.wake()

    def _requeue(self, task: Task) -> None:
        self._abandon(task)
        count = int(task.execution.get("requeueCount") or 0) + 1
        task.job.set_task_state(task, "active", requeueCount=count, lastRequeueTime=iso(now()))
        task.job.queue.append(task)

    def _complete(self, task: Task, state: str, **execution: Any) -> None:
        self._abandon(task)
        job = task.job
        job.blocked.pop(task.key, None)
        job.set_task_state(task, state, endTime=iso(now()), **execution)
        self._after_completion(task)

    def _after_completion(self, task: Task) -> None:
        job = task.job
        self._settle_disabling(job)
        if task.job_manager and job.state == "active" and task.spec.get("killJobOnCompletion") is not False:
            self.terminate_job(job, JOB_MANAGER_COMPLETE)
            return
        if satisfies_dependents(task):
            self._release_dependents(job, task.key)
        failed = task.execution.get("result") == "failure" and job.state == "active"
        job_action = exit_options(task).get("jobAction") or "terminate" if failed else "none"
        if job.spec.get("onTaskFailure") == "performexitoptionsjobaction" and job_action == "terminate":
            self.terminate_job(job, "TaskFailed")
            return
        if (
            job.state == "active"
            and job.spec.get("onAllTasksComplete") == "terminatejob"
            and job.unfinished == 0
        ):
            self.terminate_job(job, "AllTasksComplete")
        self.wake()

    def _release_dependents(self, job: Job, key: str) -> None:
        """Re-check the tasks blocked on ``key``; ready ones go back to the queue."""
        for other in job.waiting.pop(key, []):
            if job.blocked.get(other.key) is not other:
                continue
            if self._deps_ready(other):
                del job.blocked[other.key]
                job.queue.append(other)
            else:
                self._block(job, other)

    def _block(self, job: Job, task: Task) -> None:
        assert task.dep_ids is not None
        job.blocked[task.key] = task
        job.waiting.setdefault(task.dep_ids[task.dep_cursor], []).append(task)

    @staticmethod
    def _dependency_ids(task: Task) -> list[str]:
        deps = task.depends_on or {}
        ids = [str(i).lower() for i in deps.get("taskIds") or []]
        for rng in deps.get("taskIdRanges") or []:
            ids.extend(str(i) for i in range(int(rng["start"]), int(rng["end"]) + 1))
        return ids

    def _deps_ready(self, task: Task) -> bool:
        """True once every dependency completed successfully; resumes where the last check stopped."""
        if task.depends_on is None:
            return True
        if task.dep_ids is None:
            task.dep_ids = self._dependency_ids(task)
        tasks = task.job.tasks
        while task.dep_cursor < len(task.dep_ids):
            dep = tasks.get(task.dep_ids[task.dep_cursor])
            if dep is None or dep.state != "completed" or not satisfies_dependents(dep):
                return False
            task.dep_cursor += 1
        return True

    # ----------------------------------------------------------------- scheduling
    def schedule(self) -> None:
        ready = [j for j in self.jobs.values() if j.state == "active" and j.queue]
        if not ready:
            return
        ready.sort(key=lambda j: -j.priority)
        for job in ready:
            pool = self.pools.get(job.pool_id.lower())
            if pool is None or pool.state != "active":
                continue
            nodes = [n for n in pool.nodes.values() if n.schedulable and n.free_slots > 0]
            policy = pool.spec.get("taskSchedulingPolicy") or {}
            pack = str(policy.get("nodeFillType") or "").lower() == "pack"
            parallel = int(job.spec.get("maxParallelTasks") or -1)
            while job.queue and nodes:
                if 0 < parallel <= job.counts.tasks["running"]:
                    break
                task = job.queue[0]
                if task.state != "active" or task.run is not None or job.tasks.get(task.key) is not task:
                    job.queue.popleft()
                    continue
                if not self._deps_ready(task):
                    job.queue.popleft()
                    self._block(job, task)
                    continue
                if multi_instance.settings(task) is not None:
                    if not multi_instance.pool_accepts(pool):  # Azure: never scheduled, stays active
                        job.queue.popleft()
                        job.blocked[task.key] = task
                        continue
                    chosen = multi_instance.pick_nodes(nodes, multi_instance.instances(task))
                    if chosen is None:
                        break
                    job.queue.popleft()
                    self._launch(pool, chosen[0], task, others=chosen[1:])
                    nodes = [n for n in nodes if n not in chosen]
                    continue
                if task.required_slots > pool.slots_per_node:  # can never fit: park it, keep the rest moving
                    job.queue.popleft()
                    job.blocked[task.key] = task
                    continue
                fitting = [n for n in nodes if n.free_slots >= task.required_slots]
                if not fitting:
                    break
                # Spread: the node with the most free slots; Pack: fill one node before the next
                node = (min if pack else max)(fitting, key=lambda n: n.free_slots)
                job.queue.popleft()
                self._launch(pool, node, task)
                if node.free_slots <= 0:
                    nodes.remove(node)

    def _launch(self, pool: Pool, node: Node, task: Task, others: list[Node] | None = None) -> None:
        """Start ``task`` on ``node`` (a multi-instance task also holds ``others``, its subtasks' nodes)."""
        job = task.job
        for held in [node, *(others or [])]:
            held.running[(job.key, task.key)] = task
            held.used_slots += task.required_slots
            held.refresh_busy_state()
        task.node, task.other_nodes = node, list(others or [])
        task.generation += 1
        needs_prep = bool(job.spec.get("jobPreparationTask")) and job.key not in node.prepped_jobs
        task.task_dir = self.runner.task_dir_for(node.root, job.id, task.id, "task")
        task.node_info = {
            "affinityId": f"TVM:{node.id}",
            "nodeUrl": f"{pool.url}/nodes/{node.id}",
            "poolId": pool.id,
            "nodeId": node.id,
            "taskRootDirectory": f"workitems/{job.id}/job-1/{task.id}",
            "taskRootDirectoryUrl": f"{pool.url}/nodes/{node.id}/files/workitems/{job.id}/job-1/{task.id}",
        }
        if needs_prep:
            job.set_task_state(task, "preparing")
        else:
            job.set_task_state(
                task, "running", startTime=iso(now()), lastRetryTime=task.execution.get("lastRetryTime")
            )
        task.run = self._spawn(
            self._run_task(pool, node, task, task.generation, needs_prep), f"task-{task.id}"
        )

    async def _run_task(self, pool: Pool, node: Node, task: Task, generation: int, needs_prep: bool) -> None:
        job = task.job
        prep = job.spec.get("jobPreparationTask")
        extra = self._prep_env(job, node)
        if needs_prep:
            ok = await self._ensure_prep(pool, node, job, prep or {})
            if task.generation != generation:
                return
            if not ok:
                failure = {
                    "category": "usererror",
                    "code": "JobPreparationTaskFailed",
                    "message": "The job preparation task failed on the node",
                    "details": [{"name": "NodeId", "value": node.id}],
                }
                task.run = None
                self._complete(task, "completed", result="failure", failureInfo=failure, exitCode=None)
                return
            job.set_task_state(task, "running", startTime=iso(now()))
        if multi_instance.settings(task) is not None:
            result = await multi_instance.run(self, pool, [node, *task.other_nodes], task)
        else:
            result = await self._execute(pool, node, job, "task", task.id, task.spec, extra, task=task)
        if task.generation != generation:
            return
        task.run = None
        node.total_tasks_run += 1
        if result.result == "success":
            node.total_tasks_succeeded += 1
        info: dict[str, Any] = {
            "startTime": iso(result.start_time),
            "exitCode": result.exit_code,
            "failureInfo": result.failure_info,
        }
        retries = task.max_retries()
        retry_count = int(task.execution.get("retryCount") or 0)
        if (
            result.result == "failure"
            and self._retryable(result.failure_info)
            and (retries == -1 or retry_count < retries)
        ):
            self._abandon(task)
            job.set_task_state(
                task, "active", retryCount=retry_count + 1, lastRetryTime=iso(now()), result=None, **info
            )
            job.queue.append(task)
            self._settle_disabling(job)
            self.wake()
            return
        self._complete(task, "completed", result=result.result, **info)
        task.execution["endTime"] = iso(result.end_time)

    def _prep_env(self, job: Job, node: Node) -> dict[str, str]:
        """``AZ_BATCH_JOB_PREP_*`` for every task of a job that has a preparation task."""
        prep = job.spec.get("jobPreparationTask")
        if not prep:
            return {}
        prep_dir = self.runner.task_dir_for(node.root, job.id, prep.get("id") or "jobpreparation", "jobprep")
        return {"AZ_BATCH_JOB_PREP_DIR": str(prep_dir), "AZ_BATCH_JOB_PREP_WORKING_DIR": str(prep_dir / "wd")}

    async def _ensure_prep(self, pool: Pool, node: Node, job: Job, spec: dict[str, Any]) -> bool:
        run = node.prep_runs.get(job.key)
        if run is None:
            run = self._spawn(self._run_prep(pool, node, job, spec), f"job-prep-{job.id}")
            node.prep_runs[job.key] = run
        try:
            return bool(await asyncio.shield(run))
        except asyncio.CancelledError:
            if run.cancelled():
                return False
            raise

    async def _run_prep(self, pool: Pool, node: Node, job: Job, spec: dict[str, Any]) -> bool:
        status = job.prep_status.setdefault(node.id, {"poolId": pool.id, "nodeId": node.id})
        status["nodeUrl"] = f"{pool.url}/nodes/{node.id}"
        status["jobPreparationTaskExecutionInfo"] = {
            "state": "running",
            "startTime": iso(now()),
            "retryCount": 0,
        }
        task_id = spec.get("id") or "jobpreparation"
        result = await self._execute(pool, node, job, "jobprep", task_id, spec, self._prep_env(job, node))
        status["jobPreparationTaskExecutionInfo"] = self._phase_info(
            result, status["nodeUrl"], job.id, task_id
        )
        node.prepped_jobs[job.key] = status
        return result.result == "success" or spec.get("waitForSuccess") is False

    @staticmethod
    def _phase_info(result: Any, node_url: str, job_id: str, task_id: str) -> dict[str, Any]:
        """A job preparation or release task's execution info; its directory is given relative to the
        node's root (as Batch gives it), with the URL of that directory's files."""
        root = f"workitems/{job_id}/job-1/{task_id}"
        info = {
            "state": "completed",
            "startTime": iso(result.start_time),
            "endTime": iso(result.end_time),
            "taskRootDirectory": root,
            "taskRootDirectoryUrl": f"{node_url}/files/{root}",
            "result": result.result,
            "retryCount": 0,
        }
        if result.exit_code is not None:
            info["exitCode"] = result.exit_code
        if result.failure_info:
            info["failureInfo"] = result.failure_info
        return info
