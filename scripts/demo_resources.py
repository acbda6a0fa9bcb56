"""Watch what a DAG run creates on the emulator (Batch pools, jobs, tasks) and Azurite (containers).

Used by ``scripts/demo.py``: a background thread lists pools, jobs (with their task counts) and the
blob containers that carry Airflow run metadata every ``interval`` seconds through the real SDKs, so
the demo can print a table of everything that existed during the run and whether it is gone at the
end. The emulator's own request counters add how many create and delete calls were made.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_azure_compute.testing.stack import AzuriteEndpoints

#: Blob container metadata key that marks what an Airflow run created (see airflow_azure_compute.ids).
RUN_METADATA_KEY = "airflow_dag_id"


@dataclass
class Seen:
    """One resource observed during the run."""

    kind: str
    id: str
    detail: str = ""
    present_at_end: bool = False


@dataclass
class ResourceWatcher:
    """Poll the emulator's Batch service and Azurite until :meth:`stop`; see the module docstring."""

    endpoints: dict[str, Any]
    azurite: AzuriteEndpoints
    interval: float = 0.3
    seen: dict[tuple[str, str], Seen] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential
        from azure.storage.blob import BlobServiceClient

        batch = self.endpoints["batch"]
        self._batch = BatchClient(
            endpoint=batch["url"],
            credential=AzureNamedKeyCredential(batch["account_name"], batch["account_key"]),
        )
        self._blob = BlobServiceClient.from_connection_string(self.azurite.connection_string)
        counters = httpx.get(f"{batch['admin_url']}/counters", timeout=10).json()
        self._requests_before: dict[str, int] = dict(counters.get("requests", {}))

    # ---- polling ----------------------------------------------------------------------------
    def snapshot(self) -> dict[tuple[str, str], str]:
        """Every pool, job and run-marked container present now, with a short description."""
        now: dict[tuple[str, str], str] = {}
        for pool in self._batch.list_pools():
            size = f"autoscale, {pool.current_dedicated_nodes or 0} node(s)"
            if not pool.enable_auto_scale:
                size = f"{pool.target_dedicated_nodes or 0} dedicated node(s)"
            now[("pool", str(pool.id))] = f"{pool.vm_size or ''} {size}".strip()
        for job in self._batch.list_jobs():
            counts = self._batch.get_job_task_counts(str(job.id)).task_counts
            total = counts.active + counts.running + counts.completed
            pool_id = job.pool_info.pool_id if job.pool_info else ""
            now[("job", str(job.id))] = (
                f"pool {pool_id}: {total} task(s), {counts.succeeded} succeeded, {counts.failed} failed"
            )
        for container in self._blob.list_containers(include_metadata=True):
            metadata = container.metadata or {}
            if RUN_METADATA_KEY in metadata:
                blobs = sum(1 for _ in self._blob.get_container_client(container.name).list_blobs())
                now[("container", str(container.name))] = f"{blobs} blob(s), dag {metadata[RUN_METADATA_KEY]}"
        return now

    def _record(self, now: dict[tuple[str, str], str]) -> None:
        for key, detail in now.items():
            # The latest description wins: task counts only grow until the job is deleted.
            self.seen.setdefault(key, Seen(kind=key[0], id=key[1])).detail = detail

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._record(self.snapshot())
            except Exception as exc:  # a resource deleted between list and get; keep polling
                self.errors.append(repr(exc))
            self._stop.wait(self.interval)

    def start(self) -> ResourceWatcher:
        self._thread = threading.Thread(target=self._loop, name="resource-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling and take the final snapshot that says what is still present."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        final = self.snapshot()
        self._record(final)
        for key, entry in self.seen.items():
            entry.present_at_end = key in final

    # ---- reporting --------------------------------------------------------------------------
    def request_counts(self) -> dict[str, int]:
        """Create/delete calls the Batch emulator served during the run (``METHOD route``: count)."""
        after = httpx.get(f"{self.endpoints['batch']['admin_url']}/counters", timeout=10).json()
        counts = {
            route: n - self._requests_before.get(route, 0) for route, n in after.get("requests", {}).items()
        }
        return {
            route: n
            for route, n in sorted(counts.items())
            if n > 0 and route.split(" ", 1)[0] in {"POST", "PUT", "DELETE"} and "/_emulator" not in route
        }

    def table(self) -> str:
        rows = [("KIND", "ID", "DETAIL", "AT THE END")]
        order = {"pool": 0, "job": 1, "container": 2}
        for entry in sorted(self.seen.values(), key=lambda e: (order.get(e.kind, 9), e.id)):
            rows.append(
                (entry.kind, entry.id, entry.detail, "still present" if entry.present_at_end else "deleted")
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)
