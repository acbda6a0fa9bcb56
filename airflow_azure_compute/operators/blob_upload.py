"""Upload a local file, a directory or a glob to a container/prefix: concurrent, MD5-checked, idempotent."""

from __future__ import annotations

import base64
import glob
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.blob_paths import check_blob_path
from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.blob import TaskPool
from airflow_azure_compute.ids import run_metadata
from airflow_azure_compute.lineage import file_uri
from airflow_azure_compute.operators._blob_common import (
    BlobBaseOperator,
    Progress,
    conflict_error,
    owned_by_task,
)
from airflow_azure_compute.workspace import locate

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.blob import BlobAsyncHook, BlobEntry

_GLOB_CHARS = frozenset("*?[")

#: Up to this many uploaded blobs are reported one Asset each; above it, their prefix is.
MAX_ASSET_EVENTS = 100


@dataclass(frozen=True, slots=True)
class LocalFile:
    path: str
    blob: str
    size: int
    md5: str


def file_md5(path: str, block: int = 4 * 1024 * 1024) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while data := f.read(block):
            digest.update(data)
    return base64.b64encode(digest.digest()).decode()


def resolve_sources(source: str | Sequence[str], prefix: str) -> list[tuple[str, str]]:
    """``(local path, blob name)`` for a file, a directory (recursive) or a glob; names keep the
    path relative to the directory / the glob's fixed part."""
    sources = [source] if isinstance(source, str) else list(source)
    if not sources:
        raise AzureComputeConfigError("give a file, a directory or a glob", field="source")
    out: dict[str, str] = {}
    for src in sources:
        src = str(src)
        if any(c in src for c in _GLOB_CHARS):
            fixed = []
            for part in Path(src).parts:
                if any(c in part for c in _GLOB_CHARS):
                    break
                fixed.append(part)
            base = Path(*fixed) if fixed else Path(".")
            matches = [p for p in glob.glob(src, recursive=True) if os.path.isfile(p)]
            if not matches:
                raise AzureComputeConfigError(f"the glob {src!r} matches no file", field="source")
            for m in sorted(matches):
                out[m] = Path(m).relative_to(base).as_posix()
        elif os.path.isdir(src):
            files = sorted(p for p in Path(src).rglob("*") if p.is_file())
            if not files:
                raise AzureComputeConfigError(f"the directory {src!r} holds no file", field="source")
            for p in files:
                out[str(p)] = p.relative_to(src).as_posix()
        elif os.path.isfile(src):
            out[src] = Path(src).name
        else:
            raise AzureComputeConfigError(
                f"{src!r} is not an existing file, directory or glob", field="source"
            )
    pairs = [(path, check_blob_path(prefix + rel, field="source")) for path, rel in out.items()]
    seen: dict[str, str] = {}
    for path, blob in pairs:
        if blob in seen:
            raise AzureComputeConfigError(
                f"{seen[blob]!r} and {path!r} would both upload to {blob!r}", field="source"
            )
        seen[blob] = path
    return pairs


class BlobUploadOperator(BlobBaseOperator):
    """Upload files to ``container``/``prefix`` concurrently, each with its Content-MD5.

    A blob that already holds the same bytes (same MD5) is skipped when ``skip_unchanged``; a blob
    with other bytes is a conflict, reported before anything is uploaded unless ``overwrite``.
    Returns every target blob name (uploaded or unchanged); XComs ``uploaded`` and ``skipped`` split them,
    and the XCom ``workspace`` is the run's workspace.

    :param source: a local file, a directory (uploaded recursively, relative paths kept), a glob
        (``data/**/*.csv``; names relative to the glob's fixed part), or a list of those.
    :param container: target container; default: the run's workspace container (its inputs side,
        where a fan-out's ``common_files`` are read from).
    :param prefix: blob name prefix; default: the workspace's root (in a named ``container``: the run's
        own prefix there). A given prefix is used as is (``""``: the container's root).
    :param skip_unchanged: skip files whose blob already has the same MD5.

    Connection, concurrency, container creation and overwrite: see `BlobBaseOperator`.
    """

    template_fields: Sequence[str] = ("source", "container", "prefix", "azure_conn_id")

    def __init__(
        self,
        *,
        source: str | Sequence[str],
        container: str | None = None,
        prefix: str | None = None,
        skip_unchanged: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.container = container
        self.prefix = prefix
        self._declared_prefix = prefix
        self.skip_unchanged = skip_unchanged

    def execute(self, context: Context) -> list[str]:
        where = locate(context, self.container, self.prefix, declared_prefix=self._declared_prefix)
        container, prefix = where.container, where.prefix
        pairs = resolve_sources(self.source, prefix)
        files = [LocalFile(p, b, os.path.getsize(p), file_md5(p)) for p, b in pairs]
        uploaded, skipped = self.run(self._upload(context, container, prefix, files))
        blobs = [f.blob for f in files]
        many = len(blobs) > MAX_ASSET_EVENTS
        sources = [str(self.source)] if many and isinstance(self.source, str) else [f.path for f in files]
        self.record_lineage(inputs=[file_uri(str(path)) for path in sources])
        self.report_outputs(context, container, [prefix] if many else blobs)
        context["ti"].xcom_push(key="uploaded", value=uploaded)
        context["ti"].xcom_push(key="skipped", value=skipped)
        context["ti"].xcom_push(key="workspace", value=where.workspace.to_dict())
        return [f.blob for f in files]

    async def _upload(
        self, context: Context, container: str, prefix: str, files: list[LocalFile]
    ) -> tuple[list[str], list[str]]:
        async with self.async_hook() as hook:
            created = await self.ensure_container(hook, container, context)
            existing: dict[str, BlobEntry] = {}
            if not created:
                existing = {b.name: b async for b in hook.list_blobs(container, prefix, metadata=True)}
            todo, skipped, conflicts = [], [], []
            for f in files:
                blob = existing.get(f.blob)
                if blob is None:
                    todo.append(f)
                elif self.skip_unchanged and blob.md5 == f.md5:
                    skipped.append(f.blob)
                elif self.overwrite or owned_by_task(blob.metadata, context):
                    todo.append(f)
                else:
                    conflicts.append(f.blob)
            if conflicts:
                raise conflict_error(conflicts, "overwrite", f"blobs in {container!r}")
            await self._send(hook, context, container, todo)
            self.log.info(
                "Uploaded %d files, skipped %d unchanged, to %s/%s",
                len(todo),
                len(skipped),
                container,
                prefix,
            )
            return [f.blob for f in todo], skipped

    async def _send(
        self, hook: BlobAsyncHook, context: Context, container: str, files: list[LocalFile]
    ) -> None:
        pool = TaskPool(self.concurrency())
        metadata = run_metadata(context)
        progress = Progress(self.log, "upload")
        total = sum(f.size for f in files)
        done = [0, 0]

        async def one(f: LocalFile) -> None:
            await hook.upload_file(
                container, f.blob, f.path, overwrite=True, metadata=metadata, md5=f.md5, length=f.size,
                max_concurrency=4,
            )  # fmt: skip
            done[0] += f.size
            done[1] += 1
            progress.tick(done[0], done[1], total)

        for f in files:
            await pool.submit(one, f)
        await pool.join()
        progress.done(done[0], done[1])


__all__ = ["BlobUploadOperator", "resolve_sources"]
