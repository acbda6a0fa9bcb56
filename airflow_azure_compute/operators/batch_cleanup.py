"""Delete what this dag run created on Batch (jobs, pools) and Blob (containers); meant as a teardown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.ids import created_by_run, derive_id, run_scope
from airflow_azure_compute.operators._batch_common import BatchBaseOperator
from airflow_azure_compute.operators.batch_job import metadata_dict

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context


def _names(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [v for v in value if v]


class BatchCleanupOperator(BatchBaseOperator):
    """Delete the jobs, pools and blob containers this dag run created, and nothing else.

    A resource is deleted only when its metadata names this dag and run (the pool, fan-out and blob
    operators write it when they create something); reused resources are left alone and logged.
    Runs with ``trigger_rule="all_done"`` so it works as a teardown (``.as_teardown(setups=...)``).
    Returns ``{"deleted": [...], "kept": [...]}``.

    :param job_ids: job ids to consider.
    :param fanout_task_ids: Airflow task ids of fan-outs whose job id was derived (no explicit
        ``job_id``): their job ids are recomputed, so no XCom is needed even if the fan-out failed.
    :param pool_ids: pool ids to consider.
    :param containers: blob containers to consider.

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = ("job_ids", "pool_ids", "containers", "azure_conn_id", "blob_conn_id")
    ui_color = "#f5d0c5"

    def __init__(
        self,
        *,
        job_ids: str | Sequence[str] | None = None,
        fanout_task_ids: Sequence[str] = (),
        pool_ids: str | Sequence[str] | None = None,
        containers: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.job_ids = job_ids
        self.fanout_task_ids = list(fanout_task_ids)
        self.pool_ids = pool_ids
        self.containers = containers

    def execute(self, context: Context) -> dict[str, list[str]]:
        dag_id, run_id, _, _ = run_scope(context)
        deleted: list[str] = []
        kept: list[str] = []
        jobs = _names(self.job_ids) + [derive_id("job", dag_id, run_id, t, -1) for t in self.fanout_task_ids]
        pools = _names(self.pool_ids)
        if jobs or pools:
            hook = self.hook
            # Jobs before pools: a pool cannot go while its jobs hold tasks on it.
            for kind, ids, get, delete in (
                ("job", jobs, hook.get_job, hook.delete_job),
                ("pool", pools, hook.get_pool, hook.delete_pool),
            ):
                for resource_id in dict.fromkeys(ids):
                    resource = get(resource_id)
                    if resource is None:
                        continue
                    if created_by_run(metadata_dict(resource.get("metadata")), dag_id, run_id):
                        delete(resource_id)
                        deleted.append(f"{kind}:{resource_id}")
                    else:
                        kept.append(f"{kind}:{resource_id}")
        containers = _names(self.containers)
        if containers:
            # The Blob cleanup decides for containers (and blobs under them) by the same metadata rule.
            from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator

            blob = BlobCleanupOperator(
                task_id=f"{self.task_id}__blob", containers=containers, azure_conn_id=self.blob_conn_id
            ).execute(context)
            deleted += [f"container:{c}" for c in blob["containers_deleted"]]
            kept += [f"container:{c}" for c in blob["kept"]]
        self.log.info(
            "deleted %s; kept (not created by this run) %s", deleted or "nothing", kept or "nothing"
        )
        return {"deleted": deleted, "kept": kept}


__all__ = ["BatchCleanupOperator"]
