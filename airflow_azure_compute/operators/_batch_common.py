"""Base of the Batch operators: the connections and the hook, documented once."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator

from airflow_azure_compute.lineage import LineageMixin

if TYPE_CHECKING:
    from logging import Logger

    from airflow.triggers.base import BaseTrigger

    from airflow_azure_compute.hooks.batch import BatchHook


class BatchBaseOperator(LineageMixin, BaseOperator):
    """Base of the Batch operators.

    Operators return a dict whose keys are also pushed as separate XComs (``op.output["job_id"]``).
    The Batch job a task drove, and the blobs it reads and writes, are reported to OpenLineage (see
    `airflow_azure_compute.lineage`). An operator whose Batch tasks write blobs it waits for
    (``writes_blobs``) reports them as Asset events once they exist, through its ``AssetAlias``
    outlets: by default ``outputs_alias(dag_id, task_id)`` (see `airflow_azure_compute.assets`).

    :param azure_conn_id: the ``azure_compute_batch`` connection.
    :param blob_conn_id: the ``azure_compute_blob`` connection that signs SAS URLs (resource files,
        outputs, mounts) and cleans up containers.
    """

    ui_color = "#cfe8fc"
    #: Whether the operator reports blobs written by its Batch tasks (then it declares the default alias).
    writes_blobs = False

    def __init__(
        self,
        *,
        azure_conn_id: str = "azure_compute_batch_default",
        blob_conn_id: str = "azure_compute_blob_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.azure_conn_id = azure_conn_id
        self.blob_conn_id = blob_conn_id
        if self.writes_blobs:
            self.declare_outputs_alias(kwargs.get("outlets"))

    @property
    def hook(self) -> BatchHook:
        from airflow_azure_compute.hooks.batch import BatchHook

        return BatchHook(self.azure_conn_id)

    def record_job(self, job_id: str, *, inputs: Sequence[str] = (), outputs: Sequence[str] = ()) -> None:
        """Record the Batch job (and the blob containers/prefixes it reads and writes) for lineage."""
        from airflow_azure_compute.assets import blob_uri

        paths = [*inputs, *outputs]
        account = self.account_name() if paths else None
        uris = [blob_uri(account, *p.split("/", 1)) for p in paths] if account else []
        self.record_lineage(
            inputs=uris[: len(inputs)],
            outputs=uris[len(inputs) :],
            external_id=job_id,
            source=self.hook.settings.endpoint,
        )

    def account_name(self) -> str | None:
        """The storage account of ``blob_conn_id`` (names Assets and lineage datasets)."""
        from airflow_azure_compute.hooks.blob import BlobHook

        return BlobHook(self.blob_conn_id).settings.account_name


class WaitsForPool(BatchBaseOperator):
    """Base of the operators that wait for a pool (its nodes ready, a resize done), deferred or not."""

    #: Seconds between the wait's polls (set by the operator's ``poll_interval``).
    poll_interval: float

    def defer_pool_wait(
        self,
        trigger_class: Callable[..., BaseTrigger],
        pool_id: str,
        deadline: float,
        result: dict[str, Any],
        **fields: Any,
    ) -> NoReturn:
        """Wait for pool ``pool_id`` in the triggerer (``trigger_class`` with ``fields``, polling every
        ``poll_interval`` seconds until the epoch ``deadline``); ``execute_complete`` gets the event and
        ``result``."""
        self.defer(
            trigger=trigger_class(
                pool_id=pool_id,
                conn_id=self.azure_conn_id,
                deadline=deadline,
                poll_interval=self.poll_interval,
                **fields,
            ),
            method_name="execute_complete",
            kwargs={"result": result},
        )


def check_pool_wait(
    log: Logger, event: Mapping[str, Any], *, code: str, success: Collection[str] = ("success",)
) -> None:
    """Log the message of a pool wait that ended in a ``success`` status; else raise its error:
    `DeadlineExceededError` on ``timeout``, `AzureComputeRemoteError` with ``code`` otherwise."""
    from airflow_azure_compute.exceptions import AzureComputeRemoteError, DeadlineExceededError

    status = event.get("status")
    if status in success:
        log.info("%s", event.get("message"))
        return
    if status == "timeout":
        raise DeadlineExceededError(str(event.get("message")))
    raise AzureComputeRemoteError(str(event.get("message")), code=code)


def spec_fields(value: Any, spec_class: str) -> Any:
    """``value.as_dict()`` when it is an instance of ``spec_class`` (a class name in
    `airflow_azure_compute.specs`), else ``value`` unchanged: what operators store, so it templates.

    A mapping (the usual DAG input) passes without importing the specs module, so DAG parsing does not
    pay for it; a spec object means the DAG file already imported it.
    """
    if isinstance(value, Mapping):
        return value
    from airflow_azure_compute import specs

    return value.as_dict() if isinstance(value, getattr(specs, spec_class)) else value


__all__ = ["BatchBaseOperator", "WaitsForPool", "check_pool_wait", "spec_fields"]
