"""Shared base of the Blob operators: connection, concurrency, run metadata, ownership, progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator

from airflow_azure_compute.deprecations import renamed_argument
from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeError
from airflow_azure_compute.hooks.blob import DEFAULT_CONCURRENCY, BlobAsyncHook, remote_error
from airflow_azure_compute.ids import DAG_KEY, RUN_KEY, TASK_KEY, run_metadata
from airflow_azure_compute.lineage import LineageMixin

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

T = TypeVar("T")
MiB = 1024 * 1024


def as_int(value: Any, field: str, *, minimum: int = 1, optional: bool = False) -> int | None:
    """A templated integer parameter (Jinja renders strings) checked against ``minimum``."""
    if value is None or value == "":
        if optional:
            return None
        raise AzureComputeConfigError("a value is required", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AzureComputeConfigError(f"{value!r} is not an integer", field=field) from None
    if number < minimum:
        raise AzureComputeConfigError(f"must be at least {minimum}, got {number}", field=field)
    return number


def owned_by_task(metadata: Mapping[str, str] | None, context: Context) -> bool:
    """Whether a blob was written by this very task in this run (an earlier try): safe to replace."""
    md = {k.lower(): v for k, v in (metadata or {}).items()}
    mine = run_metadata(context)
    return all(md.get(key) == mine[key] for key in (DAG_KEY, RUN_KEY, TASK_KEY))


def conflict_error(names: list[str], field: str, what: str) -> AzureComputeConfigError:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return AzureComputeConfigError(
        f"{len(names)} {what} already exist ({shown}) and were not written by this task; "
        "set overwrite=True to replace them, choose another prefix/name, or leave the container and "
        "prefix unset so that each run writes to its own workspace",
        field=field,
    )


class Progress:
    """Logs a progress line at most every ``interval`` seconds (and once at the end)."""

    def __init__(self, log: Any, what: str, *, interval: float = 5.0) -> None:
        self.log = log
        self.what = what
        self.interval = interval
        self.started = time.monotonic()
        self._next = self.started + interval

    def tick(self, done_bytes: int, done_items: int, total_bytes: int | None = None) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            self._log(now, done_bytes, done_items, total_bytes)

    def done(self, done_bytes: int, done_items: int) -> None:
        self._log(time.monotonic(), done_bytes, done_items, None)

    def _log(self, now: float, done_bytes: int, items: int, total: int | None) -> None:
        elapsed = max(now - self.started, 1e-6)
        pct = f" ({100 * done_bytes / total:.0f}%)" if total else ""
        self.log.info(
            "%s: %.1f MiB%s, %d items in %.1fs (%.1f MiB/s)",
            self.what, done_bytes / MiB, pct, items, elapsed, done_bytes / MiB / elapsed,
        )  # fmt: skip


class BlobBaseOperator(LineageMixin, BaseOperator):
    """Base of the Blob operators.

    :param azure_conn_id: the ``azure_compute_blob`` connection (default ``azure_compute_blob_default``;
        formerly ``blob_conn_id``).
    :param max_concurrency: requests in flight at once (each holds at most one 4 MiB block).
    :param create_container: create the target container when missing; a container created this way
        carries metadata naming the dag, run and task, so `BlobCleanupOperator` can remove it.
    :param overwrite: replace existing blobs/files written by someone else; without it such conflicts
        fail before anything is uploaded. Blobs this very task wrote in an earlier try are always
        replaced (a retry is idempotent).

    Blobs an operator writes are reported as Asset events (see `airflow_azure_compute.assets`): through
    the ``AssetAlias`` outlets of the task, by default ``outputs_alias(dag_id, task_id)``; what it read
    and wrote is reported to OpenLineage when that provider is installed (`airflow_azure_compute.lineage`).
    """

    ui_color = "#cfe7fa"

    def __init__(
        self,
        *,
        azure_conn_id: str | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        create_container: bool = True,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> None:
        azure_conn_id = renamed_argument(
            kwargs, "blob_conn_id", "azure_conn_id", azure_conn_id, owner=type(self)
        )
        super().__init__(**kwargs)
        self.azure_conn_id = azure_conn_id or BlobAsyncHook.default_conn_name
        self.max_concurrency = max_concurrency
        self.create_container = create_container
        self.overwrite = overwrite
        self.declare_outputs_alias(kwargs.get("outlets"))

    def account_name(self) -> str | None:
        """The storage account of the connection (names Assets and lineage datasets)."""
        from airflow_azure_compute.hooks.blob import BlobHook

        return BlobHook(self.azure_conn_id).settings.account_name

    def async_hook(self) -> BlobAsyncHook:
        return BlobAsyncHook(self.azure_conn_id)

    def concurrency(self) -> int:
        value = as_int(self.max_concurrency, "max_concurrency")
        assert value is not None
        return value

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run the operator's async body; an SDK error becomes an `AzureComputeRemoteError`."""
        try:
            return asyncio.run(coro)
        except AzureComputeError:
            raise
        except Exception as err:
            if type(err).__module__.startswith("azure."):
                raise remote_error(self.task_id, err) from err
            raise

    async def ensure_container(self, hook: BlobAsyncHook, container: str, context: Context) -> bool:
        """Create ``container`` (with run metadata) when allowed; True if this call created it."""
        if await hook.container_exists(container):
            return False
        if not self.create_container:
            raise AzureComputeConfigError(
                f"container {container!r} does not exist; create it or set create_container=True",
                field="container",
            )
        created = await hook.create_container(container, run_metadata(context))
        if created:
            self.log.info("Created container %r (marked for cleanup by this run)", container)
        return created


__all__ = ["BlobBaseOperator", "Progress", "as_int", "conflict_error", "owned_by_task"]
