"""Delete what this dag run created on Batch (jobs, pools) and Blob (containers); meant as a teardown."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

try:  # Airflow >= 3.1: the Task SDK owns the exceptions tasks raise
    from airflow.sdk.exceptions import AirflowNotFoundException
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[no-redef,assignment]

from airflow_azure_compute import pool_leases
from airflow_azure_compute.cleanup import CleanupReport, RendersEachField
from airflow_azure_compute.ids import created_by_run, derive_id, run_scope
from airflow_azure_compute.operators._batch_common import BatchBaseOperator
from airflow_azure_compute.operators.batch_job import metadata_dict

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context


def _names(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [v for v in value if v]


def map_indexes(context: Context, task_id: str) -> list[int]:
    """Every map index a task has in this run: ``[-1]`` for a plain task, plus ``0 .. n-1`` when mapped.

    Asks the API server how many instances the task has (``RuntimeTaskInstance.get_ti_count``); a task
    instance without that call (a test stand-in) answers ``[-1]``.
    """
    ti = context["ti"]
    get_ti_count = getattr(ti, "get_ti_count", None)
    if get_ti_count is None:
        return [-1]
    count = int(get_ti_count(dag_id=ti.dag_id, task_ids=[task_id], run_ids=[ti.run_id]))
    return [-1, *range(count)]


class BatchCleanupOperator(RendersEachField, BatchBaseOperator):
    """Delete the jobs, pools and blob containers this dag run created, its workspace, and nothing else.

    A job or container is deleted only when its metadata names this dag and run (the fan-out and blob
    operators write it when they create something); reused ones are left alone and logged. A pool is
    shared through leases: it goes with the last run of the DAG that holds it (see ``pool_ids``).
    Runs with ``trigger_rule="all_done"`` so it works as a teardown (``.as_teardown(setups=...)``).
    Returns ``{"deleted": [...], "kept": [...]}``.

    It cannot fail open: a template field that fails to render (an XCom of a failed task) and a delete
    that fails do not stop it; it deletes everything it can still determine, then fails naming the
    fields and the resources it could not delete.

    :param job_ids: job ids to consider.
    :param fanout_task_ids: Airflow task ids of fan-outs (and multi-instance tasks) whose job id was
        derived (no explicit ``job_id``): their job ids are recomputed for every map index of a mapped
        (``.expand()``) task, so no XCom is needed even if the task failed.
    :param python_task_ids: Airflow task ids of Python calls and maps (`BatchPythonOperator`,
        `BatchMapOperator`, ``@task.azure_batch``): the job a try may have left (e.g. held, its task
        killed before its wait began) is found from the run workspace, for every map index.
    :param pool_ids: pool ids to consider. This run's lease on each is released (see
        `airflow_azure_compute.pool_leases`); the pool is deleted only when a run of this DAG created it
        and no other run holds a live lease on it, so a pool shared by overlapping runs stays until the
        last of them ends. A pool created outside this DAG is never deleted. Leave a pool out of
        ``pool_ids`` to keep it for the next runs.
    :param pool_lease_ttl: how old a lease may be before it stops keeping a pool when Airflow cannot
        tell whether its run still runs (a lease whose run Airflow knows has ended never keeps it).
    :param containers: blob containers to consider.
    :param workspace: also delete the run's workspace (see
        `BlobCleanupOperator`).
    :param workspace_container: the named container holding the run's workspace prefix, if any.

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = (
        "job_ids", "pool_ids", "containers", "workspace_container", "azure_conn_id", "blob_conn_id",
    )  # fmt: skip
    ui_color = "#f5d0c5"

    def __init__(
        self,
        *,
        job_ids: str | Sequence[str] | None = None,
        fanout_task_ids: Sequence[str] = (),
        python_task_ids: Sequence[str] = (),
        pool_ids: str | Sequence[str] | None = None,
        containers: str | Sequence[str] | None = None,
        workspace: bool = True,
        workspace_container: str | None = None,
        pool_lease_ttl: timedelta = pool_leases.DEFAULT_LEASE_TTL,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.job_ids = job_ids
        self.fanout_task_ids = list(fanout_task_ids)
        self.python_task_ids = list(python_task_ids)
        self.pool_ids = pool_ids
        self.containers = containers
        self.workspace = workspace
        self.workspace_container = workspace_container
        self.pool_lease_ttl = pool_lease_ttl

    def execute(self, context: Context) -> dict[str, list[str]]:
        dag_id, run_id, _, _ = run_scope(context)
        report = CleanupReport(unrendered=dict(getattr(self, "unrendered", {})))
        jobs = _names(self.job_ids) + [
            derive_id("job", dag_id, run_id, t, i)
            for t in self.fanout_task_ids
            for i in map_indexes(context, t)
        ]
        jobs += self._python_jobs(context, report)
        pools = _names(self.pool_ids)
        if jobs or pools:
            hook = self.hook
            # Jobs before pools: a pool cannot go while its jobs hold tasks on it.
            for job_id in dict.fromkeys(jobs):
                self._delete_if_ours(
                    report, f"job:{job_id}", job_id, hook.get_job, hook.delete_job, dag_id, run_id
                )
            run_state = pool_leases.airflow_run_state(context["ti"])
            for pool_id in dict.fromkeys(pools):
                label = f"pool:{pool_id}"
                released = report.attempt(
                    label,
                    partial(
                        pool_leases.release, hook, pool_id, dag_id, run_id, run_state, ttl=self.pool_lease_ttl
                    ),
                )
                if released is None:
                    continue
                if released.deleted:
                    report.deleted.append(label)
                elif released.holders:
                    self.log.info("pool %s kept: still leased by %s", pool_id, ", ".join(released.holders))
                    report.kept.append(label)
                elif not released.created_here:
                    report.kept.append(label)
        containers = _names(self.containers)
        if containers or self.workspace:
            # The Blob cleanup decides for containers (and blobs under them) by the same metadata rule.
            from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator

            def blob_cleanup() -> dict[str, Any]:
                try:
                    return BlobCleanupOperator(
                        task_id=f"{self.task_id}__blob", containers=containers, azure_conn_id=self.blob_conn_id,
                        workspace=self.workspace, workspace_container=self.workspace_container,
                    ).execute(context)  # fmt: skip
                except AirflowNotFoundException:
                    if containers or self.workspace_container:
                        raise
                    # A Batch-only DAG (no Blob connection) has no workspace: nothing of it to delete.
                    self.log.warning(
                        "No Blob connection %r: the run's workspace was not looked for", self.blob_conn_id
                    )
                    return {"containers_deleted": [], "kept": []}

            blob = report.attempt(f"containers {containers or 'of the workspace'}", blob_cleanup)
            if blob is not None:
                report.deleted += [f"container:{c}" for c in blob["containers_deleted"]]
                report.kept += [f"container:{c}" for c in blob["kept"]]
        self.log.info(
            "deleted %s; kept (not created by this run) %s",
            report.deleted or "nothing",
            report.kept or "nothing",
        )
        report.raise_if_incomplete()
        return {"deleted": report.deleted, "kept": report.kept}

    def _python_jobs(self, context: Context, report: CleanupReport) -> list[str]:
        """The current round's job of every instance of ``python_task_ids`` (earlier rounds were
        collected, and their jobs deleted, by the task itself)."""
        if not self.python_task_ids:
            return []
        from airflow_azure_compute.hooks.blob import BlobHook
        from airflow_azure_compute.operators._batch_python_base import PythonRunPlan, current_round
        from airflow_azure_compute.workspace import RunWorkspace

        dag_id, run_id, _, _ = run_scope(context)
        workspace = RunWorkspace.for_context(context, container=self.workspace_container)
        blob = BlobHook(self.blob_conn_id)
        jobs = []
        for task_id in self.python_task_ids:
            for index in map_indexes(context, task_id):
                scope = (dag_id, run_id, task_id, index)
                round_ = report.attempt(
                    f"python:{task_id}[{index}]", partial(current_round, blob, workspace, scope)
                )
                if round_ is not None:
                    jobs.append(PythonRunPlan.for_scope(scope, workspace, round_, 0).job_id)
        return jobs

    @staticmethod
    def _delete_if_ours(
        report: CleanupReport,
        label: str,
        resource_id: str,
        get: Callable[[str], dict[str, Any] | None],
        delete: Callable[[str], Any],
        dag_id: str,
        run_id: str,
    ) -> None:
        """Delete one job or pool when its metadata names this run; a failure is recorded, not raised."""
        found = report.attempt(label, lambda: get(resource_id) or {})
        if not found:
            return
        if not created_by_run(metadata_dict(found.get("metadata")), dag_id, run_id):
            report.kept.append(label)
            return
        if report.attempt(label, lambda: delete(resource_id) or True):
            report.deleted.append(label)


__all__ = ["BatchCleanupOperator"]
