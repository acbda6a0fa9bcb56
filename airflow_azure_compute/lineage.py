"""OpenLineage for the operators: the datasets a task read and wrote, and the Azure job it ran.

Operators record what they did while they run, as plain strings (`LineageMixin.record_lineage`),
so nothing is imported when OpenLineage is not installed. When ``apache-airflow-providers-openlineage``
is installed and enabled, its listener asks each finished task for
`LineageMixin.get_openlineage_facets_on_complete`, which builds the datasets then:

- a blob (``wasbs://<container>@<account>/<path>``) is the dataset namespace ``wasbs://<container>@<account>``
  with the path as name (OpenLineage's naming spec for Azure Blob Storage);
- a local file (``file:///path``) is namespace ``file``, name the absolute path;
- the Batch job, container group or orchestration instance a task drove is an ``externalQuery`` run
  facet: its id, and as source the account or app endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_azure_compute.assets import blob_uri, emit_blob_assets, openlineage_name, outputs_alias


@dataclass
class TaskLineage:
    """What one task read and wrote (URIs), and the external job it ran."""

    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    external_id: str | None = None
    source: str | None = None


def file_uri(path: str) -> str:
    """``file://`` URI of a local path (made absolute)."""
    import os

    return f"file://{os.path.abspath(path)}"


def dataset_name(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of a ``wasbs://`` or ``file://`` URI."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file", parts.path
    return openlineage_name(uri)


def to_operator_lineage(lineage: TaskLineage) -> Any:
    """The ``OperatorLineage`` the OpenLineage provider expects."""
    from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    run_facets: dict[str, Any] = {}
    if lineage.external_id:
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=lineage.external_id, source=lineage.source or "azure"
        )
    return OperatorLineage(
        inputs=[Dataset(*dataset_name(u)) for u in dict.fromkeys(lineage.inputs)],
        outputs=[Dataset(*dataset_name(u)) for u in dict.fromkeys(lineage.outputs)],
        run_facets=run_facets,
    )


class LineageMixin:
    """Adds Asset events and OpenLineage reporting to an operator.

    An operator that writes blobs calls `declare_outputs_alias` in its constructor and `report_outputs`
    once its blobs exist; `report_inputs` and `record_lineage` add what it read and the external job.
    The storage account that names the blobs comes from `account_name`, which the operator's base
    provides (from its Blob connection).
    """

    _lineage: TaskLineage | None = None
    log: Any  # the operator's logger

    def account_name(self) -> str | None:
        """The storage account of the blobs the operator reads and writes (None: nothing is named)."""
        return None

    def declare_outputs_alias(self, outlets: Any) -> None:
        """Without ``outlets`` given by the DAG author, report through `outputs_alias` ``(dag_id, task_id)``
        (a task outside a DAG, or a mapped one, has no default)."""
        if not outlets and self.has_dag():  # type: ignore[attr-defined]
            self.outlets = [outputs_alias(self.dag_id, self.task_id)]  # type: ignore[attr-defined]

    def report_outputs(
        self,
        context: Mapping[str, Any],
        container: str,
        paths: Iterable[str],
        extra: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Emit Asset events for blobs (or prefixes ending in ``/``) this task wrote, record them for
        OpenLineage, and return their URIs (see `airflow_azure_compute.assets.emit_blob_assets`)."""
        outlets = getattr(self, "outlets", None) or ()
        uris = emit_blob_assets(context, outlets, self.account_name(), container, paths, extra=extra)
        self.record_lineage(outputs=uris)
        if uris:
            self.log.info("Outputs: %s", ", ".join(uris[:5]) + (" ..." if len(uris) > 5 else ""))
        return uris

    def report_inputs(self, container: str, paths: Iterable[str]) -> None:
        """Record blobs (or prefixes) this task read, for OpenLineage."""
        account = self.account_name()
        if account:
            self.record_lineage(inputs=[blob_uri(account, container, p) for p in paths])

    def record_lineage(
        self,
        *,
        inputs: Iterable[str] = (),
        outputs: Iterable[str] = (),
        external_id: str | None = None,
        source: str | None = None,
    ) -> None:
        """Add datasets read (``inputs``) and written (``outputs``) as URIs, and the external job."""
        if self._lineage is None:
            self._lineage = TaskLineage()
        self._lineage.inputs.extend(inputs)
        self._lineage.outputs.extend(outputs)
        self._lineage.external_id = external_id or self._lineage.external_id
        self._lineage.source = source or self._lineage.source

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage provider hook: the recorded datasets and job (an empty lineage if none)."""
        return to_operator_lineage(self._lineage or TaskLineage())


__all__ = ["LineageMixin", "TaskLineage", "dataset_name", "file_uri", "to_operator_lineage"]
