"""Delete exactly what this dag run wrote to Blob Storage; meant as a teardown task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.blob_paths import check_container_name, normalize_prefix
from airflow_azure_compute.ids import created_by_run, run_scope
from airflow_azure_compute.operators._blob_common import BlobBaseOperator

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context


class BlobCleanupOperator(BlobBaseOperator):
    """Delete the containers and blobs whose metadata names this dag and run, and nothing else.

    For each container in ``containers``: if the container itself was created by this run (its
    metadata says so) it is deleted whole; otherwise only the blobs under ``prefix`` whose metadata
    names this run are deleted. With ``scan_containers_prefix`` every container whose name starts with
    it is considered too. Defaults to ``trigger_rule="all_done"``: use it as a teardown,
    ``split >> ... >> cleanup.as_teardown(setups=split)``.

    Returns ``{"containers_deleted": [...], "blobs_deleted": int, "kept": [...]}``.

    :param containers: container name(s) to consider.
    :param prefix: only blobs under this prefix (default: the whole container).
    :param scan_containers_prefix: also consider every container whose name starts with this.

    Connection and concurrency: see `BlobBaseOperator`.
    """

    template_fields: Sequence[str] = ("containers", "prefix", "scan_containers_prefix", "azure_conn_id")
    ui_color = "#f5d0c5"

    def __init__(
        self,
        *,
        containers: str | Sequence[str] = (),
        prefix: str = "",
        scan_containers_prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.containers = containers
        self.prefix = prefix
        self.scan_containers_prefix = scan_containers_prefix

    def execute(self, context: Context) -> dict[str, Any]:
        names = [self.containers] if isinstance(self.containers, str) else list(self.containers or ())
        containers = [check_container_name(c, field="containers") for c in names if c]
        prefix = normalize_prefix(self.prefix)
        dag_id, run_id, _, _ = run_scope(context)
        return self.run(self._cleanup(containers, prefix, dag_id, run_id))

    async def _cleanup(self, containers: list[str], prefix: str, dag_id: str, run_id: str) -> dict[str, Any]:
        deleted: list[str] = []
        kept: list[str] = []
        blobs = 0
        async with self.async_hook() as hook:
            candidates = list(dict.fromkeys(containers))
            if self.scan_containers_prefix:
                async for name, found in hook.list_containers(str(self.scan_containers_prefix)):
                    if created_by_run(found, dag_id, run_id) and name not in candidates:
                        candidates.append(name)
            for container in candidates:
                metadata = await hook.get_container_metadata(container)
                if metadata is None:
                    self.log.info("Container %r does not exist; nothing to delete", container)
                    continue
                if created_by_run(metadata, dag_id, run_id) and not prefix:
                    await hook.delete_container(container)
                    deleted.append(container)
                    self.log.info("Deleted container %r (created by this run)", container)
                    continue
                gone = await hook.delete_prefix(
                    container, prefix, where=lambda b: created_by_run(b.metadata, dag_id, run_id)
                )
                blobs += len(gone)
                kept.append(container)
                self.log.info(
                    "Deleted %d blobs of this run under %s/%s; kept the container",
                    len(gone),
                    container,
                    prefix,
                )
        return {"containers_deleted": deleted, "blobs_deleted": blobs, "kept": kept}


__all__ = ["BlobCleanupOperator"]
