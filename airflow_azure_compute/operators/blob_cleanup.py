"""Delete exactly what this dag run wrote to Blob Storage; meant as a teardown task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.blob_paths import check_container_name, normalize_prefix
from airflow_azure_compute.cleanup import CleanupReport, RendersEachField
from airflow_azure_compute.ids import created_by_run, run_scope
from airflow_azure_compute.operators._blob_common import BlobBaseOperator
from airflow_azure_compute.workspace import RunWorkspace

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.blob import BlobAsyncHook


class BlobCleanupOperator(RendersEachField, BlobBaseOperator):
    """Delete the run's workspace, and the containers and blobs whose metadata names this dag and run.

    The run's workspace (see `airflow_azure_compute.workspace`) goes first: its own containers
    are deleted whole (their names derive from this dag run alone), or, with ``workspace_container``,
    everything under the run's own prefix in that named container. Nothing of another run is touched.

    For each container in ``containers``: if the container itself was created by this run (its
    metadata says so) it is deleted whole; otherwise only the blobs under ``prefix`` whose metadata
    names this run are deleted. With ``scan_containers_prefix`` every container whose name starts with
    it is considered too. Defaults to ``trigger_rule="all_done"``: use it as a teardown,
    ``split >> ... >> cleanup.as_teardown(setups=split)``.

    Returns ``{"containers_deleted": [...], "blobs_deleted": int, "kept": [...], "workspace": {...}}``.

    It cannot fail open: a template field that fails to render and a container that fails to delete do
    not stop the others; it fails at the end naming them.

    :param containers: container name(s) to consider, besides the run's workspace.
    :param workspace: delete the run's workspace (default True).
    :param workspace_container: the named container the DAG's operators were given (``container=``)
        when they kept the run's workspace as a prefix in it; its run prefix is deleted.
    :param prefix: only blobs under this prefix (default: the whole container).
    :param scan_containers_prefix: also consider every container whose name starts with this.

    Connection and concurrency: see `BlobBaseOperator`.
    """

    template_fields: Sequence[str] = (
        "containers", "prefix", "scan_containers_prefix", "workspace_container", "azure_conn_id",
    )  # fmt: skip
    ui_color = "#f5d0c5"

    def __init__(
        self,
        *,
        containers: str | Sequence[str] = (),
        prefix: str = "",
        scan_containers_prefix: str | None = None,
        workspace: bool = True,
        workspace_container: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.containers = containers
        self.prefix = prefix
        self.scan_containers_prefix = scan_containers_prefix
        self.workspace = workspace
        self.workspace_container = workspace_container

    def execute(self, context: Context) -> dict[str, Any]:
        names = [self.containers] if isinstance(self.containers, str) else list(self.containers or ())
        containers = [check_container_name(c, field="containers") for c in names if c]
        prefix = normalize_prefix(self.prefix)
        dag_id, run_id, _, _ = run_scope(context)
        report = CleanupReport(unrendered=dict(getattr(self, "unrendered", {})))
        workspace = RunWorkspace.for_context(
            context, container=self.workspace_container or None, field="workspace_container"
        )
        result: dict[str, Any] = self.run(
            self._cleanup(containers, prefix, dag_id, run_id, workspace if self.workspace else None, report)
        )
        result["workspace"] = workspace.to_dict()
        report.raise_if_incomplete()
        return result

    async def _delete_workspace(self, hook: BlobAsyncHook, workspace: RunWorkspace) -> tuple[list[str], int]:
        """Delete the run's own containers whole, or everything under its prefix in a named container."""
        if workspace.owns_containers:
            gone = [name for name in workspace.containers if await hook.delete_container(name)]
            for name in gone:
                self.log.info("Deleted container %r (this run's workspace)", name)
            return gone, 0
        if await hook.get_container_metadata(workspace.container) is None:
            return [], 0
        removed = await hook.delete_prefix(workspace.container, workspace.prefix)
        self.log.info(
            "Deleted %d blobs of this run's workspace %s/%s",
            len(removed),
            workspace.container,
            workspace.prefix,
        )
        return [], len(removed)

    async def _cleanup(
        self,
        containers: list[str],
        prefix: str,
        dag_id: str,
        run_id: str,
        workspace: RunWorkspace | None,
        report: CleanupReport,
    ) -> dict[str, Any]:
        deleted: list[str] = []
        kept: list[str] = []
        blobs = 0
        async with self.async_hook() as hook:
            if workspace is not None:
                try:
                    deleted, blobs = await self._delete_workspace(hook, workspace)
                except Exception as err:
                    report.failed.append(f"workspace {workspace.container} ({type(err).__name__}: {err})")
            candidates = [c for c in dict.fromkeys(containers) if c not in deleted]
            if self.scan_containers_prefix:
                async for name, found in hook.list_containers(str(self.scan_containers_prefix)):
                    if created_by_run(found, dag_id, run_id) and name not in candidates:
                        candidates.append(name)
            for container in candidates:
                try:
                    blobs += await self._cleanup_one(hook, container, prefix, dag_id, run_id, deleted, kept)
                except Exception as err:
                    report.failed.append(f"container:{container} ({type(err).__name__}: {err})")
        report.deleted += deleted
        return {"containers_deleted": deleted, "blobs_deleted": blobs, "kept": kept}

    async def _cleanup_one(
        self,
        hook: Any,
        container: str,
        prefix: str,
        dag_id: str,
        run_id: str,
        deleted: list[str],
        kept: list[str],
    ) -> int:
        """Clean one container; returns how many blobs were deleted one by one."""
        metadata = await hook.get_container_metadata(container)
        if metadata is None:
            self.log.info("Container %r does not exist; nothing to delete", container)
            return 0
        if created_by_run(metadata, dag_id, run_id) and not prefix:
            await hook.delete_container(container)
            deleted.append(container)
            self.log.info("Deleted container %r (created by this run)", container)
            return 0
        gone = await hook.delete_prefix(
            container, prefix, where=lambda b: created_by_run(b.metadata, dag_id, run_id)
        )
        kept.append(container)
        self.log.info(
            "Deleted %d blobs of this run under %s/%s; kept the container", len(gone), container, prefix
        )
        return len(gone)


__all__ = ["BlobCleanupOperator"]
