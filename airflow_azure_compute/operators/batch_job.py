"""Create or reuse a Batch job on a pool."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError
from airflow_azure_compute.ids import created_by_run, derive_id, run_metadata, run_scope
from airflow_azure_compute.links import BatchJobLink, batch_account_fields
from airflow_azure_compute.operators._batch_common import BatchBaseOperator, spec_fields

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.specs import JobSpec


def job_id_for(spec: JobSpec, context: Context | Mapping[str, Any]) -> str:
    """The spec's job id, or one derived from dag, run, task and map index (never the try number)."""
    return spec.job_id or derive_id("job", *run_scope(context))


def metadata_dict(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(i.get("name")): str(i.get("value")) for i in items or ()}


def ensure_job(
    hook: BatchHook, spec: JobSpec, context: Context | Mapping[str, Any], *, hold: bool = False
) -> tuple[str, bool]:
    """Create the job, or reuse it; returns ``(job_id, owned)``.

    ``owned`` is True when this dag run created the job (its metadata says so), including on a retry
    that finds the job its earlier try created. A reused job must be on the spec's pool and active.

    ``hold``: a job created here is disabled before any task is added (`BatchHook.hold_job`), so
    nothing runs until the wait releases it (`BatchHook.release_job`): a task killed before its wait
    starts leaves only held tasks. A job of this run that an earlier try left held is reused as it is.
    """
    job_id = job_id_for(spec, context)
    metadata = run_metadata(context)
    if hook.create_job(spec.to_wire(job_id, metadata=metadata)):
        if hold:
            hook.hold_job(job_id)
        BatchJobLink.persist(context, job_id=job_id, **batch_account_fields(hook.settings))
        return job_id, True
    job = hook.get_job(job_id) or {}
    pool_id = (job.get("poolInfo") or {}).get("poolId")
    if pool_id and pool_id.lower() != spec.pool_id.lower():
        raise AzureComputeConfigError(
            f"job {job_id!r} exists on pool {pool_id!r}, not {spec.pool_id!r}: use another job_id",
            field="job.job_id",
        )
    dag_id, run_id, _, _ = run_scope(context)
    owned = created_by_run(metadata_dict(job.get("metadata")), dag_id, run_id)
    state = job.get("state")
    held = hold and owned and state in ("disabling", "disabled")
    if state not in (None, "active") and not held:
        raise AzureComputeRemoteError(
            f"job {job_id!r} exists but is {state!r}; tasks can only be added to an active job",
            code="JobNotActive",
        )
    BatchJobLink.persist(context, job_id=job_id, **batch_account_fields(hook.settings))
    return job_id, owned


class BatchEnsureJobOperator(BatchBaseOperator):
    """Create a job on a pool, or reuse it; returns ``{"job_id", "owned"}``.

    :param job: a `JobSpec` or a mapping of its fields.

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = ("job", "azure_conn_id")
    template_fields_renderers = {"job": "json"}
    operator_extra_links = (BatchJobLink(),)

    def __init__(
        self,
        *,
        job: JobSpec | Mapping[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = spec_fields(job, "JobSpec")

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_azure_compute.specs import JobSpec

        spec = JobSpec.coerce(self.job)
        job_id, owned = ensure_job(self.hook, spec, context)
        self.log.info(
            "job %s ready on pool %s (%s)", job_id, spec.pool_id, "created by this run" if owned else "reused"
        )
        return {"job_id": job_id, "owned": owned, "pool_id": spec.pool_id}


__all__ = ["BatchEnsureJobOperator", "ensure_job", "job_id_for"]
