"""Run one multi-instance (MPI) task on several nodes of an inter-node pool, and wait for it.

Batch accepts a multi-instance task on any pool and leaves it ``active`` forever when the pool cannot
run it (no inter-node communication, several task slots per node, fewer nodes than instances). The
operator reads the pool first and names the setting instead, before anything is created. The task's
outcome is its primary's; when it fails, the error names the failing subtask (``subtasksinfo``), its
node and exit code, with the tail of the primary's ``stderr.txt``.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.deferral import deadline_after, default_deferrable, to_seconds
from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    BatchTasksFailedError,
    DeadlineExceededError,
)
from airflow_azure_compute.ids import derive_id, run_scope
from airflow_azure_compute.links import BatchJobLink
from airflow_azure_compute.operators._batch_common import BatchBaseOperator, spec_fields
from airflow_azure_compute.operators._batch_work import BatchWork, StopsBatchWork
from airflow_azure_compute.operators.batch_job import ensure_job

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.operators._blob_sas import BlobSasSource
    from airflow_azure_compute.specs import JobSpec, ResourceFileSpec, TaskSpec


def describe_subtasks(subtasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per subtask that did not succeed: id, node, state, exit code and failure."""
    lines = []
    for sub in subtasks:
        if sub.get("result") == "success":
            continue
        node = (sub.get("nodeInfo") or {}).get("nodeId")
        failure = sub.get("failureInfo") or {}
        exit_code = sub.get("exitCode")
        lines.append(
            f"subtask {sub.get('id')} on node {node}: {sub.get('state')}"
            + (f", exit code {exit_code}" if exit_code is not None else "")
            + (f", {failure.get('code')}: {failure.get('message')}" if failure else "")
        )
    return lines


class BatchRunMultiInstanceTaskOperator(StopsBatchWork, BatchBaseOperator):
    """Run an MPI program as one multi-instance Batch task; returns where its outputs are.

    Returns ``{"job_id", "pool_id", "task_id", "owns_job", "output_container", "output_prefix",
    "exit_code"}``. The outputs (``output_pattern`` files of the primary's working directory) land in
    ``output_container`` under ``{output_prefix}``: by default the run workspace's output container.
    On success that prefix is reported as an Asset event and an OpenLineage output (see
    `BatchBaseOperator`), the downloaded blobs as OpenLineage inputs, and the job as the run's
    ``externalQuery`` facet.

    :param job: a `JobSpec` (or mapping): the pool and the job.
    :param command_line: the application command, run by the primary only once every instance's
        coordination command succeeded (e.g. ``/bin/sh -c 'mpiexec -hosts $AZ_BATCH_HOST_LIST ...'``).
    :param number_of_instances: nodes the task runs on at once (at most the pool's node count).
    :param coordination_command_line: run by every instance first (not under a shell).
    :param common_files: blob names (in ``input_container``, under ``input_prefix``) every instance
        downloads into ``$AZ_BATCH_TASK_SHARED_DIR`` (e.g. the MPI program).
    :param input_files: blob names only the primary downloads into its working directory.
    :param input_container: container of ``common_files`` and ``input_files``; default: the run
        workspace's container.
    :param input_prefix: prefix prepended to those blob names.
    :param output_container: where the outputs go; default: the run workspace's output container.
    :param output_prefix: blob prefix of the outputs; default ``<batch task id>/``.
    :param output_pattern: files of the primary's working directory uploaded when the task succeeds.
    :param batch_task_id: the Batch task id; derived from dag/run/task/map index when empty.
    :param environment: environment variables of every instance.
    :param max_wall_clock_seconds: the task (all instances) is terminated after this long.
    :param max_task_retries: retries of the whole multi-instance task.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``, else True).
    :param poll_interval: seconds between status polls.
    :param wait_timeout: absolute limit of the wait (a timedelta or seconds); past it the work is
        stopped (unless ``terminate_on_kill`` is False) and the task fails.
    :param sas_expiry: lifetime of the SAS URLs (cover queueing + run time).
    :param terminate_on_kill: stop the work when the task is killed or times out (default): the job
        when this run created it, else the multi-instance task. A job this operator creates is held
        (disabled) until its wait begins, so a kill before the wait leaves nothing running. False
        leaves the work running.

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = (
        "job",
        "command_line",
        "number_of_instances",
        "coordination_command_line",
        "common_files",
        "input_files",
        "input_container",
        "input_prefix",
        "output_container",
        "output_prefix",
        "batch_task_id",
        "environment",
        "azure_conn_id",
        "blob_conn_id",
    )
    template_fields_renderers = {"job": "json", "environment": "json"}
    operator_extra_links = (BatchJobLink(),)
    writes_blobs = True

    def __init__(
        self,
        *,
        job: JobSpec | Mapping[str, Any],
        command_line: str,
        number_of_instances: int,
        coordination_command_line: str | None = None,
        common_files: Sequence[str] = (),
        input_files: Sequence[str] = (),
        input_container: str | None = None,
        input_prefix: str = "",
        output_container: str | None = None,
        output_prefix: str | None = None,
        output_pattern: str = "out/**/*",
        batch_task_id: str | None = None,
        environment: Mapping[str, str] | None = None,
        max_wall_clock_seconds: int | None = None,
        max_task_retries: int | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        wait_timeout: timedelta | float = timedelta(hours=24),
        sas_expiry: timedelta = timedelta(hours=24),
        terminate_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = spec_fields(job, "JobSpec")
        self.command_line = command_line
        self.number_of_instances = number_of_instances
        self.coordination_command_line = coordination_command_line
        self.common_files = common_files
        self.input_files = input_files
        self.input_container = input_container
        self.input_prefix = input_prefix
        self.output_container = output_container
        self.output_prefix = output_prefix
        self.output_pattern = output_pattern
        self.batch_task_id = batch_task_id
        self.environment = environment
        self.max_wall_clock_seconds = max_wall_clock_seconds
        self.max_task_retries = max_task_retries
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.sas_expiry = sas_expiry
        self.terminate_on_kill = terminate_on_kill

    # ------------------------------------------------------------------------------- planning
    def plan(self, context: Context, sas: BlobSasSource) -> tuple[JobSpec, TaskSpec, str, str]:
        """Validate and build the task (with SAS URLs) before any Batch request: (job, task, outputs)."""
        from airflow_azure_compute.specs import (
            JobSpec,
            MultiInstanceSpec,
            OutputFileSpec,
            TaskSpec,
            check_batch_id,
        )

        spec = JobSpec.coerce(self.job)
        multi = MultiInstanceSpec(
            number_of_instances=self.instances(),
            coordination_command_line=self.coordination_command_line or None,
            common_resource_files=tuple(self._files(sas, self.common_files, "common_files", context)),
        )
        task_id = self.batch_task_id_for(context)
        check_batch_id(task_id, "batch_task_id")
        out_container, out_prefix = self.outputs(context, task_id)
        if not self.output_container:
            from airflow_azure_compute.ids import run_metadata

            # The run workspace's output container, made for this run (cleanup deletes it).
            sas.hook.create_container(out_container, run_metadata(context))
        outputs = (
            OutputFileSpec(
                file_pattern=self.output_pattern,
                container_url=sas.container_url(out_container, "cw"),
                path=out_prefix.rstrip("/"),
            ),
        )
        task = TaskSpec(
            task_id=task_id,
            command_line=self.command_line,
            resource_files=tuple(self._files(sas, self.input_files, "input_files", context)),
            output_files=outputs,
            environment=dict(self.environment or {}),
            max_wall_clock_seconds=self.max_wall_clock_seconds,
            max_task_retries=self.max_task_retries,
            multi_instance=multi,
        )
        return spec, task, out_container, out_prefix

    def batch_task_id_for(self, context: Context) -> str:
        """``batch_task_id``, or one derived from dag/run/task/map index."""
        return self.batch_task_id or derive_id("mpi", *run_scope(context), max_len=64)

    def instances(self) -> int:
        """``number_of_instances`` as a whole number (it may arrive as a rendered template string)."""
        try:
            return int(self.number_of_instances)
        except (TypeError, ValueError):
            raise AzureComputeConfigError(
                f"{self.number_of_instances!r} is not a whole number", field="number_of_instances"
            ) from None

    def outputs(self, context: Context, task_id: str) -> tuple[str, str]:
        """``(container, prefix)`` of the outputs: the run workspace's output container by default."""
        from airflow_azure_compute.workspace import RunWorkspace

        workspace = RunWorkspace.for_context(context)
        container = self.output_container or workspace.output_container
        prefix = self.output_prefix if self.output_prefix is not None else workspace.path(task_id + "/")
        return container, prefix

    def _files(
        self, sas: BlobSasSource, names: Sequence[str], field: str, context: Context
    ) -> list[ResourceFileSpec]:
        from airflow_azure_compute.specs import ResourceFileSpec

        if isinstance(names, str):
            raise AzureComputeConfigError("must be a list of blob names (got a string)", field=field)
        if not names:
            return []
        container = self._input_container(context)
        files = []
        for name in names:
            blob = f"{self.input_prefix or ''}{name}"
            files.append(
                ResourceFileSpec(
                    http_url=sas.blob_url(container, blob, "r"), file_path=posixpath.basename(blob)
                )
            )
        return files

    def _input_container(self, context: Context) -> str:
        from airflow_azure_compute.workspace import RunWorkspace

        return self.input_container or RunWorkspace.for_context(context).container

    def _input_blobs(self) -> list[str]:
        """The blobs the instances download (``common_files`` and ``input_files``, under ``input_prefix``)."""
        names = [*(self.common_files or ()), *(self.input_files or ())]
        return [f"{self.input_prefix or ''}{name}" for name in names if isinstance(name, str)]

    # ------------------------------------------------------------------------------- running
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_azure_compute.operators._blob_sas import BlobSasSource
        from airflow_azure_compute.specs import JobSpec, MultiInstanceSpec, check_multi_instance_pool

        # The pool is checked first: a task it would never run creates nothing (not even the outputs).
        pool_id = JobSpec.coerce(self.job).pool_id
        hook = self.hook
        pool = hook.get_pool(pool_id)
        if pool is None:
            raise AzureComputeConfigError(
                f"pool {pool_id!r} does not exist: create it first (BatchEnsurePoolOperator)",
                field="job.pool_id",
            )
        check_multi_instance_pool(MultiInstanceSpec(number_of_instances=self.instances()), pool)
        sas = BlobSasSource(self.blob_conn_id, expiry=self.sas_expiry)
        spec, task, out_container, out_prefix = self.plan(context, sas)
        assert task.multi_instance is not None
        job_id, owned = ensure_job(hook, spec, context, hold=True)
        work = BatchWork(job_id, task.task_id, owns_job=owned)
        self.track_work(work)  # a kill from here on stops it
        created = hook.create_task(job_id, task.to_wire())
        if not created:
            earlier = hook.get_task(job_id, task.task_id) or {}
            if (earlier.get("executionInfo") or {}).get("result") == "failure":
                self.log.info("task %s failed in an earlier try: reactivating it", task.task_id)
                hook.reactivate_task(job_id, task.task_id)
        self.log.info(
            "job %s: multi-instance task %s on %d node(s) of pool %s (%s)",
            job_id,
            task.task_id,
            task.multi_instance.number_of_instances,
            spec.pool_id,
            "submitted" if created else "already submitted by an earlier try",
        )
        result = {
            "job_id": job_id,
            "pool_id": spec.pool_id,
            "task_id": task.task_id,
            "owns_job": owned,
            "output_container": out_container,
            "output_prefix": out_prefix,
        }
        deadline = deadline_after(self.wait_timeout) or 0.0
        if self.deferrable and not self._finished(hook, job_id, task.task_id):
            from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger

            self.defer(
                trigger=BatchJobCompleteTrigger(
                    job_id=job_id,
                    conn_id=self.azure_conn_id,
                    deadline=deadline,
                    poll_interval=self.poll_interval,
                    task_id_prefix=task.task_id,
                    expected_tasks=1,
                    scope="prefix",
                    owns_job=owned,
                    terminate_on_kill=bool(self.terminate_on_kill),
                    release_job=True,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=to_seconds(self.wait_timeout) or 0),
            )
        released = False
        while not self._finished(hook, job_id, task.task_id):
            released = released or hook.release_job(job_id)
            if time.time() > deadline:
                self.stop_work("AirflowTaskTimedOut", work, quiet=True)
                raise DeadlineExceededError(f"multi-instance task {job_id}/{task.task_id} still running")
            time.sleep(self.poll_interval)
        return self.outcome(context, hook, result)

    def work_of(self, context: Context) -> BatchWork:
        """This task's job and Batch task, found again after a deferral."""
        from airflow_azure_compute.ids import created_by_run
        from airflow_azure_compute.operators.batch_job import job_id_for, metadata_dict
        from airflow_azure_compute.specs import JobSpec

        job_id = job_id_for(JobSpec.coerce(self.job), context)
        dag_id, run_id, _, _ = run_scope(context)
        job = self.hook.get_job(job_id) or {}
        owned = created_by_run(metadata_dict(job.get("metadata")), dag_id, run_id)
        return BatchWork(job_id, self.batch_task_id_for(context), owns_job=owned)

    @staticmethod
    def _finished(hook: BatchHook, job_id: str, task_id: str) -> bool:
        return ((hook.get_task(job_id, task_id) or {}).get("state")) == "completed"

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        job_id, task_id = str(event.get("job_id")), str(event.get("task_id_prefix"))
        if event.get("status") == "timeout":
            self.stop_work("AirflowTaskTimedOut", self.work_of(context), quiet=True)
            raise DeadlineExceededError(str(event.get("message")))
        if event.get("status") not in ("success", "failed"):
            raise AzureComputeRemoteError(str(event.get("message")), code="TriggerError")
        from airflow_azure_compute.specs import JobSpec

        hook = self.hook
        container, prefix = self.outputs(context, task_id)
        result = {
            "job_id": job_id,
            "pool_id": JobSpec.coerce(self.job).pool_id,
            "task_id": task_id,
            "owns_job": self.work_of(context).owns_job,
            "output_container": container,
            "output_prefix": prefix,
        }
        return self.outcome(context, hook, result)

    def outcome(self, context: Context, hook: BatchHook, result: dict[str, Any]) -> dict[str, Any]:
        """The primary's result: returned (its outputs reported) on success; on failure, raised with the
        failing subtasks."""
        job_id, task_id = result["job_id"], result["task_id"]
        self.record_job(job_id)
        task = hook.get_task(job_id, task_id) or {}
        info = task.get("executionInfo") or {}
        exit_code = info.get("exitCode")
        if info.get("result") == "success":
            self.log.info("multi-instance task %s/%s succeeded (exit code %s)", job_id, task_id, exit_code)
            self.report_inputs(self._input_container(context), self._input_blobs())
            if self.output_pattern:
                self.report_outputs(context, result["output_container"], [result["output_prefix"]])
            return {**result, "exit_code": exit_code}
        failure = info.get("failureInfo") or {}
        listed = hook.list_subtasks(job_id, task_id)
        subtasks = describe_subtasks(listed)
        coordination = [str(s.get("id")) for s in listed if s.get("id") != 0 and s.get("result") == "failure"]
        if coordination:
            subtasks.insert(0, f"coordination_command_line failed on subtask(s) {', '.join(coordination)}")
        report = hook.task_forensics(
            job_id, {"id": task_id, "exit_code": exit_code, "failure_code": failure.get("code")}
        )
        self.log.error(
            "multi-instance task %s/%s failed:\n%s\nstderr.txt (end):\n%s",
            job_id,
            task_id,
            "\n".join(subtasks) or "(no subtask information)",
            report.get("stderr.txt"),
        )
        raise BatchTasksFailedError(
            f"multi-instance task {job_id}/{task_id} failed (exit code {exit_code}"
            + (f", {failure.get('code')}: {failure.get('message')}" if failure else "")
            + "). "
            + ("; ".join(subtasks) if subtasks else "No subtask information."),
            failed_task_ids=[task_id],
        )


__all__ = ["BatchRunMultiInstanceTaskOperator", "describe_subtasks"]
