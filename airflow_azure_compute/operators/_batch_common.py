"""Base of the Batch operators: the connections and the hook, documented once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow_azure_compute.hooks.batch import BatchHook


class BatchBaseOperator(BaseOperator):
    """Base of the Batch operators.

    Operators return a dict whose keys are also pushed as separate XComs (``op.output["job_id"]``).

    :param azure_conn_id: the ``azure_compute_batch`` connection.
    :param blob_conn_id: the ``azure_compute_blob`` connection that signs SAS URLs (resource files,
        outputs, mounts) and cleans up containers.
    """

    ui_color = "#cfe8fc"

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

    @property
    def hook(self) -> BatchHook:
        from airflow_azure_compute.hooks.batch import BatchHook

        return BatchHook(self.azure_conn_id)


def spec_fields(value: Any, spec_class: str) -> Any:
    """``value.as_dict()`` when it is an instance of ``spec_class`` (a class name in
    :mod:`airflow_azure_compute.specs`), else ``value`` unchanged: what operators store, so it templates.

    A mapping (the usual DAG input) passes without importing the specs module, so DAG parsing does not
    pay for it; a spec object means the DAG file already imported it.
    """
    if isinstance(value, Mapping):
        return value
    from airflow_azure_compute import specs

    return value.as_dict() if isinstance(value, getattr(specs, spec_class)) else value


__all__ = ["BatchBaseOperator", "spec_fields"]
