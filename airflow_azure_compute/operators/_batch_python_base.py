"""The path shared by the Python-on-Batch operators (`airflow_azure_compute.operators.batch_python`):
one call or a map over many inputs, each following the same steps:

1. **Check and pickle** on the worker, before any request: the function (its DAG module by value), the
   arguments or items (a hook, connection or SDK client anywhere in them is refused; whatever does not
   pickle is named), the shipped packages.
2. **Look at the pool** (one GET): it must exist; its ``python_version`` metadata, when set, must match
   the worker's minor version; its task slots choose the chunk size of a map.
3. **Stage** into the run workspace (`RunWorkspace`): the runner,
   cloudpickle, the function and the packages once, one input blob per Batch task.
4. **Submit** one job with one task per chunk in bulk (`BatchHook.create_tasks`). Results go to
   the workspace's output container through a create+write SAS. The job is held (disabled) while the
   tasks are added: none starts before the wait releases it, so a task killed before its wait began
   leaves nothing running.
5. **Wait**: release the job, then one ``taskcounts`` request per poll, deferred to the triggerer
   (`BatchJobCompleteTrigger`).
6. **Collect** every chunk's ``result.pkl`` in input order, delete what was staged, and return the
   value (call) or the results (map); a remote exception is raised again with the node's traceback.

Ids come from dag/run/task/map index and a *round* number, never the try number: a retried Airflow task
whose earlier try died while waiting finds its job and tasks and waits for them again. Once a try has
collected the results (and failed, e.g. the function raised), it marks its round done, so the next try
runs the function again in a new job.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cached_property, partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.deferral import deadline_after, default_deferrable, to_seconds
from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    DeadlineExceededError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.ids import derive_id, run_metadata, run_scope
from airflow_azure_compute.links import BatchJobLink
from airflow_azure_compute.operators._batch_common import BatchBaseOperator, spec_fields
from airflow_azure_compute.operators._batch_work import BatchWork, StopsBatchWork
from airflow_azure_compute.operators.batch_job import metadata_dict

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.specs import TaskContainerSpec, TaskSpec
    from airflow_azure_compute.workspace import RunWorkspace

#: Pool metadata key that states the nodes' Python minor version (checked before submission).
POOL_PYTHON_KEY = "python_version"
#: Batch tasks per pool task slot when the chunk size is chosen (a few per slot balances uneven items).
TASKS_PER_SLOT = 4
#: Concurrent blob transfers while staging and collecting.
TRANSFER_CONCURRENCY = 16
TASK_PREFIX = "chunk-"
#: Job metadata key recording the chunk size, so a retry that reattaches splits the items the same way.
CHUNK_SIZE_KEY = "airflow_chunk_size"
#: Job metadata key recording the number of Batch tasks (read back after the deferred wait).
CHUNKS_KEY = "airflow_chunks"


def current_round(blob: BlobHook, workspace: RunWorkspace, scope: tuple[str, str, str, int]) -> int:
    """The first round of a task instance that no try has collected (0 on a first try): its job is the
    one a try may have left behind (collected rounds delete theirs)."""
    round_ = 0
    while blob.get_blob(workspace.container, PythonRunPlan.for_scope(scope, workspace, round_, 1).marker):
        round_ += 1
    return round_


def choose_chunk_size(count: int, slots: int, *, tasks_per_slot: int = TASKS_PER_SLOT) -> int:
    """Items per Batch task: enough tasks to give every task slot ``tasks_per_slot`` of them."""
    return max(1, math.ceil(count / max(1, slots * tasks_per_slot)))


def pool_slots(pool: Mapping[str, Any]) -> int:
    """Task slots of a pool (nodes x slots per node), from its target or current node counts."""
    nodes = max(
        int(pool.get("targetDedicatedNodes") or 0) + int(pool.get("targetLowPriorityNodes") or 0),
        int(pool.get("currentDedicatedNodes") or 0) + int(pool.get("currentLowPriorityNodes") or 0),
        1,
    )
    return nodes * max(1, int(pool.get("taskSlotsPerNode") or 1))


def pool_python(pool: Mapping[str, Any]) -> str | None:
    """The pool's ``python_version`` metadata, when it states one."""
    for item in pool.get("metadata") or ():
        if str(item.get("name")) == POOL_PYTHON_KEY:
            return str(item.get("value"))
    return None


@dataclass(frozen=True)
class PythonRunPlan:
    """Where this run's call or map lives (all derived from the task instance and the round)."""

    round: int
    job_id: str
    base: str  # prefix of everything this operator keeps in the workspace
    chunks: int

    @classmethod
    def of(cls, context: Context, workspace: RunWorkspace, round_: int, chunks: int) -> PythonRunPlan:
        return cls.for_scope(run_scope(context), workspace, round_, chunks)

    @classmethod
    def for_scope(
        cls, scope: tuple[str, str, str, int], workspace: RunWorkspace, round_: int, chunks: int
    ) -> PythonRunPlan:
        """The plan of the task instance ``(dag_id, run_id, task_id, map_index)``."""
        base = workspace.path("python", derive_id("py", *scope, max_len=40, lower=True) + "/")
        return cls(round_, derive_id("pyjob", *scope, round_), base, chunks)

    @property
    def stage(self) -> str:
        """Prefix of the staged inputs in ``workspace.container``."""
        return f"{self.base}r{self.round}/in/"

    @property
    def outputs(self) -> str:
        """Prefix of the results in ``workspace.output_container``."""
        return f"{self.base}r{self.round}/out/"

    @property
    def marker(self) -> str:
        """Written when a try has collected this round's results: the next try starts a new round."""
        return f"{self.base}r{self.round}.done"

    def task_id(self, index: int) -> str:
        from airflow_azure_compute.specs import task_id_for

        return task_id_for(TASK_PREFIX, index, self.chunks)

    def output(self, index: int, name: str) -> str:
        return f"{self.outputs}{self.task_id(index)}/{name}"


@dataclass(frozen=True)
class PythonRunResults:
    """What a run collected: every item's outcome in input order and where each chunk starts in it."""

    plan: PythonRunPlan
    workspace: RunWorkspace
    outcomes: list[tuple[str, Any]]
    starts: list[int]


class BatchPythonBaseOperator(StopsBatchWork, BatchBaseOperator, ABC):
    """Shared by the call and the map operators; parameters documented here once.

    :param python_callable: the function to run on the nodes (a plain function; lambdas and closures
        work, as long as what they use pickles).
    :param pool_id: an existing pool (see `BatchEnsurePoolOperator`).
        Its metadata ``python_version`` (e.g. ``"3.11"``), when set, is checked against the worker's.
    :param python: the interpreter on the nodes (a name on ``PATH`` or a path), of the worker's minor version.
    :param ship_packages: installed pure-Python packages of the worker to ship (zipped) to the nodes.
    :param ship_modules: more modules to pickle by value (the function's own module, e.g. the DAG file,
        always is, unless it is installed).
    :param container: run in this image on a container-enabled pool (a
        `TaskContainerSpec` or mapping); the image brings Python.
    :param environment: environment variables of the tasks.
    :param max_wall_clock_seconds: per-task limit.
    :param max_task_retries: Batch retries of a task whose runner failed (the function's own exceptions
        are results, not retried by Batch).
    :param workspace_container: keep blobs under a per-run prefix in this container instead of the
        run's own containers.
    :param poll_interval: seconds between polls while waiting.
    :param timeout: how long to wait for the tasks; past it the job is terminated (unless
        ``terminate_on_kill`` is False) and the task fails.
    :param terminate_on_kill: terminate the job when the task is killed or times out (default), so no
        Batch task keeps running for a task Airflow gave up on; False leaves it running.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable`` when set,
        else True).
    :param sas_expiry: lifetime of the SAS URLs the tasks use (cover queueing + run time).

    Connections: ``azure_conn_id`` (Batch) and ``blob_conn_id`` (Storage), see
    `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = (
        "pool_id",
        "python",
        "environment",
        "container",
        "workspace_container",
        "azure_conn_id",
        "blob_conn_id",
    )
    template_fields_renderers = {"environment": "json", "container": "json"}
    operator_extra_links = (BatchJobLink(),)
    shallow_copy_attrs: Sequence[str] = ("python_callable",)
    #: ``call`` (one call, its value) or ``map`` (many items, a list of results).
    mode = "call"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        pool_id: str,
        python: str = "python3",
        ship_packages: Sequence[str] = (),
        ship_modules: Sequence[str | ModuleType] = (),
        container: TaskContainerSpec | Mapping[str, Any] | None = None,
        environment: Mapping[str, str] | None = None,
        max_wall_clock_seconds: int | None = None,
        max_task_retries: int = 0,
        workspace_container: str | None = None,
        poll_interval: float = 5.0,
        timeout: timedelta | float = timedelta(hours=24),
        deferrable: bool | None = None,
        sas_expiry: timedelta = timedelta(hours=24),
        terminate_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", False)
        # Under @task.azure_batch, Airflow's DecoratedOperator hook adds ``op_kwargs`` to every __init__
        # that receives ``python_callable``; BatchPythonOperator has taken the real ones already.
        kwargs.pop("op_kwargs", None)
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.pool_id = pool_id
        self.python = python
        self.ship_packages = list(ship_packages)
        self.ship_modules = list(ship_modules)
        self.container = spec_fields(container, "TaskContainerSpec") if container else None
        self.environment = environment
        self.max_wall_clock_seconds = max_wall_clock_seconds
        self.max_task_retries = max_task_retries
        self.workspace_container = workspace_container
        self.poll_interval = poll_interval
        self.wait_timeout = timeout
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.sas_expiry = sas_expiry
        self.terminate_on_kill = terminate_on_kill

    # ------------------------------------------------------------------ what subclasses provide
    @abstractmethod
    def call_items(self) -> tuple[list[Any], bool]:
        """``(items, star)``: the call's ``[(args, kwargs)]`` or the map's items."""

    def chunk_size(self, count: int, pool: Mapping[str, Any]) -> int:
        return 1

    @abstractmethod
    def deliver(self, context: Context, results: PythonRunResults) -> Any:
        """The task's return value from the outcomes (in input order); raise per the error policy."""

    # ---------------------------------------------------------------------------------- hooks
    @cached_property
    def blob(self) -> BlobHook:
        """One Blob hook (one client and connection pool) for staging, markers and results."""
        from airflow_azure_compute.hooks.blob import BlobHook

        return BlobHook(self.blob_conn_id)

    def workspace(self, context: Context) -> RunWorkspace:
        from airflow_azure_compute.workspace import RunWorkspace

        return RunWorkspace.for_context(context, container=self.workspace_container)

    # -------------------------------------------------------------------------------- execute
    def execute(self, context: Context) -> Any:
        from airflow_azure_compute import python_shipping as ship

        # 1. Everything that can be wrong with the input is found here, before any request.
        items, star = self.call_items()
        if not items:
            raise AzureComputeConfigError(
                "the input list is empty: there is nothing to run (check the upstream task's result)",
                field="items",
            )
        modules = ship.by_value_modules(self.python_callable, self.ship_modules)
        function = ship.pickle_function(self.python_callable, modules=modules)
        if self.mode == "map":
            ship.pickle_value(items, "the items", field="items", modules=modules)
        packages = ship.zip_packages(self.ship_packages) if self.ship_packages else None
        container = self._container_spec()

        # 2. The pool: exists, runs the right Python, decides the chunk size.
        pool = self.hook.get_pool(self.pool_id)
        if pool is None:
            raise AzureComputeConfigError(
                f"pool {self.pool_id!r} does not exist: create it first (BatchEnsurePoolOperator)",
                field="pool_id",
            )
        stated = pool_python(pool)
        if stated and container is None and stated != ship.python_minor():
            raise AzureComputeConfigError(
                f"pool {self.pool_id!r} runs Python {stated} (its {POOL_PYTHON_KEY!r} metadata) but this "
                f"worker runs {ship.python_minor()}: pickled functions only load on the same minor "
                "version. Use a pool (or a container image) with the worker's Python.",
                field="pool_id",
            )
        # 3. This try's round: reattach to the job an earlier try left running, or start afresh.
        workspace = self.workspace(context)
        hook = self.hook
        round_ = self._current_round(context, workspace)
        job = hook.get_job(PythonRunPlan.of(context, workspace, round_, 1).job_id)
        earlier = metadata_dict((job or {}).get("metadata")).get(CHUNK_SIZE_KEY)
        size = int(earlier) if earlier else self.chunk_size(len(items), pool)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        plan = PythonRunPlan.of(context, workspace, round_, len(chunks))
        existing = hook.list_task_ids(plan.job_id, TASK_PREFIX) if job else set()
        if len(existing) >= plan.chunks:
            self.log.info(
                "job %s: all %d task(s) exist (an earlier try): waiting for them", plan.job_id, plan.chunks
            )
        else:
            payloads = {
                i: ship.chunk_payload(self.mode, i * size, chunk, star=star, modules=modules)
                for i, chunk in enumerate(chunks)
                if plan.task_id(i) not in existing
            }
            self._stage(context, workspace, plan, function, packages, payloads)
            self._submit(context, workspace, plan, container, existing, bool(packages), size)
        self.log.info(
            "%d item(s) in %d Batch task(s) of up to %d on pool %s (job %s)",
            len(items),
            plan.chunks,
            size,
            self.pool_id,
            plan.job_id,
        )
        return self._wait(context, plan)

    def _container_spec(self) -> TaskContainerSpec | None:
        from airflow_azure_compute.specs import TaskContainerSpec

        return TaskContainerSpec.coerce(self.container) if self.container else None

    def _current_round(self, context: Context, workspace: RunWorkspace) -> int:
        """The first round no earlier try has collected (0 on a first try)."""
        return current_round(self.blob, workspace, run_scope(context))

    def _stage(
        self,
        context: Context,
        workspace: RunWorkspace,
        plan: PythonRunPlan,
        function: bytes,
        packages: bytes | None,
        payloads: Mapping[int, bytes],
    ) -> None:
        from airflow_azure_compute.python_shipping import runtime_files

        blob = self.blob
        for name in workspace.containers:
            blob.create_container(name, metadata=run_metadata(context))
        files = {f"{plan.stage}common/{k}": v for k, v in runtime_files().items()}
        files[f"{plan.stage}common/function.pkl"] = function
        if packages:
            files[f"{plan.stage}common/packages.zip"] = packages
        files.update({f"{plan.stage}{plan.task_id(i)}.pkl": data for i, data in payloads.items()})
        with ThreadPoolExecutor(TRANSFER_CONCURRENCY) as pool:
            list(
                pool.map(
                    lambda kv: blob.upload_bytes(workspace.container, kv[0], kv[1], overwrite=True),
                    files.items(),
                )
            )
        self.log.info("staged %d blob(s) under %s/%s", len(files), workspace.container, plan.stage)

    def _command(self, plan: PythonRunPlan, packages: bool) -> str:
        import shlex

        from airflow_azure_compute.python_shipping import python_minor

        common = f"{plan.stage}common/"
        parts = [
            self.python,
            f"{common}runner.py",
            "--python",
            python_minor(),
            "--function",
            f"{common}function.pkl",
            "--input",
            "{chunk_file}",
            "--out",
            "out",
        ]
        if packages:
            parts += ["--path", f"{common}packages.zip"]
        if self.mode == "call":
            parts.append("--logs")
        return " ".join(p if p == "{chunk_file}" else shlex.quote(p) for p in parts)

    def _submit(
        self,
        context: Context,
        workspace: RunWorkspace,
        plan: PythonRunPlan,
        container: TaskContainerSpec | None,
        existing: set[str],
        packages: bool,
        size: int,
    ) -> None:
        from airflow_azure_compute.operators._blob_sas import BlobSasSource
        from airflow_azure_compute.operators.batch_fanout import build_tasks
        from airflow_azure_compute.operators.batch_job import ensure_job
        from airflow_azure_compute.specs import JobSpec

        tasks: list[TaskSpec] = build_tasks(
            prefix=TASK_PREFIX,
            command_line=self._command(plan, packages),
            items=[f"{plan.task_id(i)}.pkl" for i in range(plan.chunks)],
            sas=BlobSasSource(self.blob_conn_id, expiry=self.sas_expiry),
            input_container=workspace.container,
            input_prefix=plan.stage,
            common_prefixes=[f"{plan.stage}common/"],
            output_container=workspace.output_container,
            output_prefix=plan.outputs,
            output_pattern="out/*",
            dependency_outputs=False,
            environment=self.environment,
            container=container,
            max_wall_clock_seconds=self.max_wall_clock_seconds,
            max_task_retries=self.max_task_retries,
        )
        # Results and runner errors are uploaded whatever the exit code: they explain a failed task.
        tasks = [
            replace(
                t, output_files=tuple(replace(o, upload_condition="taskcompletion") for o in t.output_files)
            )
            for t in tasks
        ]
        hook = self.hook
        job = JobSpec(
            pool_id=self.pool_id,
            job_id=plan.job_id,
            max_task_retries=self.max_task_retries,
            metadata={CHUNK_SIZE_KEY: str(size), CHUNKS_KEY: str(plan.chunks)},
        )
        job_id, _ = ensure_job(hook, job, context, hold=True)
        self.track_work(BatchWork(job_id, owns_job=True))  # a kill while submitting stops it
        missing = [t.to_wire() for t in tasks if t.task_id not in existing]
        result = hook.create_tasks(job_id, missing)
        if result.failed:
            sample = dict(list(result.failed.items())[:5])
            raise AzureComputeRemoteError(
                f"job {job_id}: {len(result.failed)} task(s) refused, e.g. {sample}",
                code=next(iter(sample.values())),
            )
        self.log.info("job %s: %d task(s) submitted in %d request(s)", job_id, result.added, result.requests)

    # ----------------------------------------------------------------------------------- wait
    def _wait(self, context: Context, plan: PythonRunPlan) -> Any:
        from airflow_azure_compute.specs import FailurePolicy
        from airflow_azure_compute.states import Outcome, evaluate_tasks, progress_line

        hook = self.hook
        deadline = deadline_after(self.wait_timeout) or 0.0
        work = BatchWork(plan.job_id, owns_job=True)
        self.track_work(work)  # what on_kill stops while the worker waits
        released = False
        while True:
            counts = hook.get_task_counts(plan.job_id)
            decision = evaluate_tasks(counts, expected=plan.chunks, policy=FailurePolicy.FAIL_FAST)
            self.log.info(
                "job %s: %s", plan.job_id, progress_line(counts, plan.chunks, rate=None, elapsed=0.0)
            )
            if decision.outcome is not Outcome.WAITING:
                failed = hook.list_failed_tasks(plan.job_id, TASK_PREFIX, limit=20) if counts.failed else []
                status = "success" if decision.outcome is Outcome.SUCCEEDED else "failed"
                event = {
                    "status": status,
                    "job_id": plan.job_id,
                    "failed_tasks": failed,
                    "message": decision.message,
                }
                return self.execute_complete(context, event)
            if self.deferrable:
                break
            released = released or hook.release_job(plan.job_id)
            if time.time() >= deadline:
                self.stop_work("AirflowTaskTimedOut", work, quiet=True)
                raise DeadlineExceededError(f"job {plan.job_id}: deadline passed before its tasks were done")
            time.sleep(self.poll_interval)
        from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger

        self.defer(
            trigger=BatchJobCompleteTrigger(
                job_id=plan.job_id,
                conn_id=self.azure_conn_id,
                deadline=deadline,
                poll_interval=float(self.poll_interval),
                expected_tasks=plan.chunks,
                scope="job",
                failure_policy=FailurePolicy.FAIL_FAST.value,
                owns_job=True,
                terminate_on_kill=bool(self.terminate_on_kill),
                release_job=True,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=to_seconds(self.wait_timeout) or 0) if self.wait_timeout else None,
        )

    def work_of(self, context: Context) -> BatchWork:
        """This try's job (its round is read back from the workspace)."""
        workspace = self.workspace(context)
        round_ = self._current_round(context, workspace)
        return BatchWork(PythonRunPlan.of(context, workspace, round_, 0).job_id, owns_job=True)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Collect and deliver once the tasks are done; the round and chunk count are read back from the
        Batch job (its metadata), so nothing but the trigger's event crosses the deferral."""
        workspace = self.workspace(context)
        round_ = self._current_round(context, workspace)
        job = self.hook.get_job(str(event.get("job_id"))) or {}
        chunks = metadata_dict(job.get("metadata")).get(CHUNKS_KEY)
        plan = PythonRunPlan.of(context, workspace, round_, int(chunks or 0))
        if plan.job_id != event.get("job_id") or not chunks:
            raise AzureComputeRemoteError(
                f"job {event.get('job_id')!r} is not this try's job {plan.job_id!r} or lost its metadata: "
                "was it deleted while the task waited?",
                code="JobNotFound",
            )
        status = event.get("status")
        if status == "timeout":
            self.stop_work("AirflowTaskTimedOut", BatchWork(plan.job_id, owns_job=True), quiet=True)
            raise DeadlineExceededError(str(event.get("message")))
        if status == "error":
            raise AzureComputeRemoteError(f"job {plan.job_id}: {event.get('message')}", code="TriggerError")
        self.record_job(plan.job_id)
        try:
            outcomes, starts = self._collect(plan, workspace, list(event.get("failed_tasks") or []))
            value = self.deliver(context, PythonRunResults(plan, workspace, outcomes, starts))
        finally:
            self._finish(plan, workspace)
        return value

    # -------------------------------------------------------------------------------- collect
    def _read_outputs(self, workspace: RunWorkspace, names: Sequence[str]) -> list[bytes | None]:
        """The outputs' bytes, in order; None for one that is absent."""
        with ThreadPoolExecutor(TRANSFER_CONCURRENCY) as pool:
            return list(pool.map(partial(self.blob.read_bytes_if_exists, workspace.output_container), names))

    def _collect(
        self, plan: PythonRunPlan, workspace: RunWorkspace, failed: Sequence[Mapping[str, Any]]
    ) -> tuple[list[tuple[str, Any]], list[int]]:
        """Every item's outcome in input order, and where each chunk starts; a Batch task that produced
        none raises, explained."""
        from airflow_azure_compute.python_results import decode_result

        if failed:
            raise self._task_failure(plan, workspace, failed)
        raw = self._read_outputs(workspace, [plan.output(i, "result.pkl") for i in range(plan.chunks)])
        missing = [plan.task_id(i) for i, data in enumerate(raw) if data is None]
        if missing:
            raise RemoteWorkFailedError(
                f"job {plan.job_id}: {len(missing)} task(s) succeeded but uploaded no result "
                f"(e.g. {missing[:3]}): the output container {workspace.output_container!r} may have "
                "been deleted or the SAS expired"
            )
        outcomes: list[tuple[str, Any]] = []
        starts: list[int] = []
        for data in raw:
            assert data is not None
            start, chunk = decode_result(data)
            starts.append(start)
            outcomes.extend(chunk)
        return outcomes, starts

    def _task_failure(
        self, plan: PythonRunPlan, workspace: RunWorkspace, failed: Sequence[Mapping[str, Any]]
    ) -> AzureComputeRemoteError:
        """Why the runner failed on the node, from ``runner_error.json`` or Batch's failure info."""
        from airflow_azure_compute.python_shipping import python_minor
        from airflow_azure_compute.sensors.batch import format_forensics

        first = failed[0]
        task_id = str(first.get("id"))
        index = int(task_id.removeprefix(TASK_PREFIX))
        raw = self._read_outputs(workspace, [plan.output(index, "runner_error.json")])[0]
        more = f" ({len(failed)} task(s) failed)" if len(failed) > 1 else ""
        if raw is not None:
            record = json.loads(raw)
            message = f"Batch task {task_id} of job {plan.job_id}{more}: {record.get('message')}"
            if record.get("traceback"):
                message += f"\n{record['traceback']}"
            return RemoteWorkFailedError(message, code=str(record.get("kind")))
        code = first.get("failure_code")
        if code == "CommandProgramNotFound":
            return RemoteWorkFailedError(
                f"Batch task {task_id} of job {plan.job_id}{more}: the node has no interpreter "
                f"{self.python!r} ({first.get('failure_message')}). Install Python {python_minor()} on "
                "the pool (a start task or image) or pass python= with its path on the nodes.",
                code=str(code),
            )
        report = [self.hook.task_forensics(plan.job_id, f) for f in failed[:3]]
        self.log.error("failed Batch task(s):\n%s", format_forensics(report))
        return RemoteWorkFailedError(
            f"Batch task {task_id} of job {plan.job_id}{more} failed before the function's results were "
            f"written: exit code {first.get('exit_code')}, {code}: {first.get('failure_message')}",
            code=str(code) if code else None,
        )

    def _finish(self, plan: PythonRunPlan, workspace: RunWorkspace) -> None:
        """Mark the round done (a retry runs the function again), delete the staged inputs and the job.

        What a failure needs is in the task log by now (the function's output, the runner's error or
        the failed tasks' forensics), and the job's ids are of this operator's own scheme, which the
        run's cleanup would not know.
        """
        blob = self.blob
        blob.upload_bytes(workspace.container, plan.marker, b"", overwrite=True)
        deleted = blob.delete_prefix(workspace.container, plan.stage)
        self.log.info("deleted %d staged blob(s)", len(deleted))
        self.hook.delete_job(plan.job_id)

    def source_files(self) -> list[str]:
        """Files of the modules pickled by value: where the node's tracebacks point."""
        from airflow_azure_compute.python_shipping import by_value_modules

        modules = by_value_modules(self.python_callable, self.ship_modules)
        return [str(m.__file__) for m in modules if getattr(m, "__file__", None)]

    def log_remote_output(self, workspace: RunWorkspace, plan: PythonRunPlan, index: int) -> None:
        """The function's stdout and stderr (copied by the runner) into the task log."""
        stdout, stderr = self._read_outputs(
            workspace, [plan.output(index, "stdout.txt"), plan.output(index, "stderr.txt")]
        )
        for name, data in (("stdout", stdout), ("stderr", stderr)):
            text = (data or b"").decode("utf-8", errors="replace").rstrip()
            if text:
                self.log.info("--- %s on the Batch node ---\n%s", name, text)


__all__ = [
    "CHUNKS_KEY",
    "CHUNK_SIZE_KEY",
    "POOL_PYTHON_KEY",
    "BatchPythonBaseOperator",
    "PythonRunPlan",
    "PythonRunResults",
    "choose_chunk_size",
    "current_round",
    "pool_python",
    "pool_slots",
]
