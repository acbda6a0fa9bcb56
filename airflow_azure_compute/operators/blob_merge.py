"""Merge shards (by prefix or by split manifest) in chunk order into one local file or one blob."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import queue
import re
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from airflow_azure_compute.blob_paths import check_blob_path, check_container_name
from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.blob import BlockSink, TaskPool
from airflow_azure_compute.ids import run_metadata
from airflow_azure_compute.lineage import file_uri
from airflow_azure_compute.merging import (
    DEFAULT_INDEX_PATTERN,
    DEFAULT_MAX_XCOM_BYTES,
    MergeMode,
    Shard,
    ShardCallable,
    ShardSetError,
    XComContent,
    import_callable,
    make_joiner,
    plan_shards,
    xcom_value,
)
from airflow_azure_compute.operators._blob_common import (
    BlobBaseOperator,
    Progress,
    as_int,
    conflict_error,
    owned_by_task,
)
from airflow_azure_compute.sharding import ShardManifest
from airflow_azure_compute.workspace import locate

if TYPE_CHECKING:
    from airflow.sdk import XComArg
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.blob import BlobAsyncHook


#: Staged 4 MiB blocks in flight for a blob output: 8 beat 4 by 10-25 % in A/B runs against Azurite
#: (once blocks carry a Content-MD5) and bound that part of memory to 32 MiB.
STAGE_CONCURRENCY = 8


class Sink(Protocol):
    size: int

    async def write(self, data: bytes) -> None: ...
    async def close(self) -> str | None: ...


class FileSink:
    """Writes a local file through a temporary sibling, renamed into place on close (atomic).

    Writing and hashing run on a background thread fed by a small bounded queue: both release the
    GIL, so they overlap with the downloads instead of taking turns with them on the event loop.
    With ``checksum=False`` the output is not hashed and `close` returns None.
    """

    QUEUE = 8

    def __init__(self, path: str, *, checksum: bool = True) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self.md5 = hashlib.md5(usedforsecurity=False) if checksum else None
        self.size = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="merge-file-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.file.write(data)
                    if self.md5 is not None:
                        self.md5.update(data)
                except BaseException as err:  # reported by close()
                    self._error = err

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self._error is not None:
            raise self._error
        self.size += len(data)
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            await asyncio.to_thread(self._queue.put, data)

    async def _stop(self) -> None:
        await asyncio.to_thread(self._queue.put, None)
        await asyncio.to_thread(self._thread.join)
        self.file.close()

    async def close(self) -> str | None:
        await self._stop()
        if self._error is not None:
            raise self._error
        os.replace(self.tmp, self.path)
        return base64.b64encode(self.md5.digest()).decode() if self.md5 is not None else None

    async def abort(self) -> None:
        await self._stop()
        self.tmp.unlink(missing_ok=True)


class MemorySink:
    """Keeps what a merge writes, per shard, for XCom (the size was checked against the cap first)."""

    def __init__(self) -> None:
        self.pieces: list[bytearray] = []
        self.size = 0

    def next_shard(self) -> None:
        self.pieces.append(bytearray())

    async def write(self, data: bytes) -> None:
        if not self.pieces:
            self.next_shard()
        self.pieces[-1] += data
        self.size += len(data)

    async def close(self) -> str | None:
        return None


class TeeSink:
    """Writes to an output and to memory (for XCom) at once; the output's MD5 is returned."""

    def __init__(self, out: Sink, memory: MemorySink) -> None:
        self.out = out
        self.memory = memory
        self.size = 0

    async def write(self, data: bytes) -> None:
        await self.out.write(data)
        await self.memory.write(data)
        self.size += len(data)

    async def close(self) -> str | None:
        return await self.out.close()


class _ShardReader(io.RawIOBase):
    """A blocking binary stream over a shard's async pieces, read from a worker thread."""

    def __init__(self, pieces: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._pieces = pieces
        self._loop = loop
        self._buf = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    async def _next(self) -> bytes:
        return await anext(self._pieces)

    def readinto(self, b: Any) -> int:
        while not self._buf and not self._eof:
            try:
                self._buf = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            except StopAsyncIteration:
                self._eof = True
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        while self.readinto(bytearray(1 << 20)):
            pass


async def _run_callable(fn: ShardCallable, shard: Shard, pieces: AsyncIterator[bytes], sink: Sink) -> None:
    """Run the user's callable in a worker thread; its stream and its output bridge to the loop."""
    loop = asyncio.get_running_loop()

    def work() -> None:
        raw = _ShardReader(pieces, loop)
        out: Iterable[bytes] | None = fn(shard, io.BufferedReader(raw, buffer_size=1 << 20))
        for data in out or ():
            asyncio.run_coroutine_threadsafe(sink.write(bytes(data)), loop).result()
        raw.drain()  # the download of this shard must finish even if the callable stopped early

    await asyncio.to_thread(work)


def shard_prefix(names: list[str]) -> str:
    """The folder the shards share (``""`` for the container root): their dataset for lineage."""
    shared: list[str] = []
    for level in zip(*(name.split("/")[:-1] for name in names), strict=False):
        if len(set(level)) > 1:
            break
        shared.append(level[0])
    return "".join(f"{part}/" for part in shared)


class BlobMergeOperator(BlobBaseOperator):
    """Merge shards in chunk-index order into one local file or one blob.

    Shards are the blobs under ``prefix`` (ordered by the number in each base name), or a split
    manifest's chunks. A missing index, a duplicate or a blob without an index is an error naming
    them, raised before anything is written. Downloads run ``max_concurrency`` at a time with bounded
    read-ahead; output is written strictly in order. A blob output is staged as blocks and committed
    once, so readers never see half a result; a file output is renamed into place.

    Returns ``{"location", "size", "md5", "shards", "workspace"}`` (shards = count), plus ``"content"``
    with ``xcom_content``: small results come back to the DAG without a read-back task.

    By default the shards are the fan-out outputs of the run's workspace: ``outputs/`` in the run's
    outputs container, where `BatchRunTasksOperator`
    writes them unless told otherwise.

    :param container: container of the shards; default: the run's workspace outputs container.
    :param prefix: where the shards are; with ``manifest``, only its chunk count is used. Default
        (without ``manifest`` or ``fanout``): ``outputs/`` in the run's workspace.
    :param fanout: a fan-out's result (``fanout.output``): its ``output_container``,
        ``output_prefix`` and ``task_count`` become the defaults of ``container``, ``prefix`` and
        ``expected_count``, and shards are ordered by the index of the task that wrote them (one
        output file per task).
    :param manifest: a split manifest blob name (in ``container``), or the split operator's return
        value; without ``prefix`` its chunks themselves are merged.
    :param expected_count: the shards must be exactly indices ``0 .. expected_count - 1``.
    :param index_pattern: regex whose group 1 is the chunk index in a blob's base name (in its full
        name when the pattern holds a ``/``).
    :param mode: ``concat`` (bytes), ``csv`` (header once), ``jsonl`` or ``callable``.
    :param merge_callable: import path ``package.module:function`` called as ``fn(shard, stream)``
        for each shard in order (``shard.index``, ``shard.name``; ``stream`` a binary file object);
        it returns the bytes to write (an iterable of ``bytes``) or None.
    :param output_path: local output file (a download of the result); exclusive with ``output_blob``.
    :param output_blob: output blob name, in ``output_container`` (default ``container``). With
        ``xcom_content``, neither output is needed.
    :param xcom_content: hand the result to XCom under ``"content"``: ``text`` (the merged output as a
        string), ``jsonl`` (its JSON Lines as a list), ``shards`` (each shard's text, in order) or
        ``json`` (each shard parsed as one JSON document, in order: one result per task).
    :param max_xcom_bytes: the cap on ``xcom_content`` (XCom lives in the metadata database); shards
        adding up to more fail before anything is downloaded.
    :param encoding: text encoding of ``xcom_content``.
    :param output_container: container of ``output_blob``.
    :param checksum: compute the output's MD5, returned as ``md5`` (and, for a blob, stored as its
        Content-MD5). Hashing costs about 1.5-2 s of CPU per GiB; with False, ``md5`` is None. Each
        block of a blob output is still sent with its own Content-MD5, which the service verifies.

    Connection, concurrency, container creation and overwrite: see `BlobBaseOperator`.
    """

    template_fields: Sequence[str] = (
        "container", "prefix", "manifest", "fanout", "expected_count", "mode", "merge_callable",
        "output_path", "output_blob", "output_container", "xcom_content", "max_xcom_bytes", "azure_conn_id",
    )  # fmt: skip

    def __init__(
        self,
        *,
        container: str | None = None,
        prefix: str | None = None,
        manifest: str | Mapping[str, Any] | XComArg | None = None,
        fanout: Mapping[str, Any] | XComArg | None = None,
        expected_count: int | str | None = None,
        index_pattern: str = DEFAULT_INDEX_PATTERN,
        mode: MergeMode | str = MergeMode.CONCAT,
        merge_callable: str | None = None,
        output_path: str | None = None,
        output_blob: str | None = None,
        output_container: str | None = None,
        checksum: bool = True,
        xcom_content: XComContent | str | None = None,
        max_xcom_bytes: int | str = DEFAULT_MAX_XCOM_BYTES,
        encoding: str = "utf-8",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.container = container
        self.fanout = fanout
        self.xcom_content = xcom_content
        self.max_xcom_bytes = max_xcom_bytes
        self.encoding = encoding
        self._declared_prefix = prefix
        self.checksum = checksum
        self.prefix = prefix
        self.manifest = manifest
        self.expected_count = expected_count
        self.index_pattern = index_pattern
        self.mode = mode
        self.merge_callable = merge_callable
        self.output_path = output_path
        self.output_blob = output_blob
        self.output_container = output_container

    # -- validation ------------------------------------------------------------------------------
    def _xcom_content(self) -> XComContent | None:
        if self.xcom_content is None or self.xcom_content == "":
            return None
        return XComContent.parse(self.xcom_content, field="xcom_content")

    def _fanout(self) -> Mapping[str, Any]:
        if self.fanout is None or self.fanout == "":
            return {}
        if not isinstance(self.fanout, Mapping) or not {"output_prefix", "task_id_prefix"} <= set(
            self.fanout
        ):
            raise AzureComputeConfigError(
                "expected a fan-out's result (fanout.output), with output_container and output_prefix",
                field="fanout",
            )
        return self.fanout

    def _check(self) -> tuple[MergeMode, ShardCallable | None]:
        mode = MergeMode.parse(self.mode, field="mode")
        fn = None
        if mode is MergeMode.CALLABLE:
            if not self.merge_callable:
                raise AzureComputeConfigError("mode='callable' needs merge_callable", field="merge_callable")
            try:
                fn = import_callable(str(self.merge_callable))
            except ValueError as err:
                raise AzureComputeConfigError(str(err), field="merge_callable") from err
        elif self.merge_callable:
            raise AzureComputeConfigError("merge_callable needs mode='callable'", field="mode")
        if self.output_path and self.output_blob:
            raise AzureComputeConfigError(
                "give at most one of output_path and output_blob", field="output_path"
            )
        if not (self.output_path or self.output_blob or self._xcom_content()):
            raise AzureComputeConfigError(
                "give output_path, output_blob or xcom_content (where the result goes)", field="output_path"
            )
        return mode, fn

    def _manifest_ref(self, container: str) -> tuple[str, str] | None:
        ref = self.manifest
        if ref is None or ref == "":
            return None
        if isinstance(ref, Mapping):
            return (
                check_container_name(ref.get("container", container), field="manifest"),
                check_blob_path(str(ref["manifest"]), field="manifest"),
            )
        return container, check_blob_path(str(ref), field="manifest")

    # -- execution -------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        mode, fn = self._check()
        fanout = self._fanout()
        prefix: str | None = self.prefix if self.prefix is not None else fanout.get("output_prefix")
        declared = self._declared_prefix if self.prefix is not None else prefix
        container_name = self.container or fanout.get("output_container")
        if prefix is None and self.manifest is not None and self.manifest != "":
            # A split manifest names the split's chunks: the inputs side of the workspace.
            where = locate(context, container_name, "", declared_prefix="")
            prefix = None
        else:
            where = locate(
                context, container_name, prefix, default="outputs/", outputs=True, declared_prefix=declared
            )
            prefix = where.prefix
        container = where.container
        out_container = check_container_name(self.output_container or container, field="output_container")
        if self.output_blob:
            check_blob_path(str(self.output_blob), field="output_blob")
        expected_count = as_int(self.expected_count, "expected_count", optional=True)
        if expected_count is None and fanout.get("task_count") is not None:
            expected_count = as_int(fanout["task_count"], "fanout", optional=True)
        index_pattern = self.index_pattern
        if fanout and self.prefix is None and prefix is not None:
            # Only this fan-out's task directories (other fan-outs of the run share outputs/).
            prefix = f"{prefix}{fanout['task_id_prefix']}"
            if index_pattern == DEFAULT_INDEX_PATTERN:
                index_pattern = re.escape(prefix) + r"(\d+)/"
        result = self.run(
            self._merge(context, mode, fn, container, prefix, expected_count, out_container, index_pattern)
        )
        result["workspace"] = where.workspace.to_dict()
        return result

    async def _merge(
        self, context: Context, mode: MergeMode, fn: ShardCallable | None, container: str, prefix: str | None,
        expected_count: int | None, out_container: str, index_pattern: str,
    ) -> dict[str, Any]:  # fmt: skip
        async with self.async_hook() as hook:
            names, sizes = await self._plan(hook, container, prefix, expected_count, index_pattern)
            xcom = self._xcom_content()
            memory = MemorySink() if xcom is not None else None
            if memory is not None:
                self._check_xcom_size(sum(sizes))
            location = await self._check_output(hook, context, out_container)
            pool = TaskPool(min(self.concurrency(), STAGE_CONCURRENCY))
            out: FileSink | BlockSink | None = None
            if self.output_path:
                out = FileSink(str(self.output_path), checksum=self.checksum)
            elif self.output_blob:
                out = BlockSink(hook.container(out_container), str(self.output_blob), pool,
                                metadata=run_metadata(context), checksum=self.checksum)  # fmt: skip
            sink: Sink
            if out is not None and memory is not None:
                sink = TeeSink(out, memory)
            else:
                sink = out if out is not None else memory  # type: ignore[assignment]
            try:
                await self._copy(hook, container, names, sizes, mode, fn, sink, memory)
                md5 = await sink.close()
            except BaseException:
                if isinstance(out, FileSink):
                    await out.abort()
                await pool.join_quietly()
                raise
            self.log.info("Merged %d shards (%d bytes) into %s", len(names), sink.size, location)
            self.report_inputs(container, [shard_prefix(names)])
            if isinstance(out, BlockSink):
                self.report_outputs(context, out_container, [str(self.output_blob)], {"size": sink.size})
            elif isinstance(out, FileSink):
                self.record_lineage(outputs=[file_uri(str(self.output_path))])
            result: dict[str, Any] = {
                "location": location,
                "size": sink.size,
                "md5": md5,
                "shards": len(names),
            }
            if memory is not None and xcom is not None:
                self._check_xcom_size(memory.size)
                try:
                    result["content"] = xcom_value(xcom, [bytes(p) for p in memory.pieces], self.encoding)
                except ValueError as err:
                    raise AzureComputeConfigError(
                        f"the merged output is not {xcom.value} ({err}); choose another xcom_content",
                        field="xcom_content",
                    ) from err
            return result

    def _check_xcom_size(self, size: int) -> None:
        cap = as_int(self.max_xcom_bytes, "max_xcom_bytes")
        assert cap is not None
        if size > cap:
            raise AzureComputeConfigError(
                f"the result is {size} bytes, over the XCom cap of {cap} bytes; raise max_xcom_bytes, "
                "or write it to output_blob/output_path and pass its location instead",
                field="max_xcom_bytes",
            )

    async def _plan(
        self, hook: BlobAsyncHook, container: str, prefix: str | None, expected_count: int | None,
        index_pattern: str,
    ) -> tuple[list[str], list[int]]:  # fmt: skip
        expected_names: list[str] | None = None
        known_sizes: dict[str, int] = {}
        ref = self._manifest_ref(container)
        if ref is not None:
            entry = await hook.get_blob(*ref)
            if entry is None:
                raise AzureComputeConfigError(
                    f"manifest {ref[1]!r} not found in container {ref[0]!r}", field="manifest"
                )
            manifest = ShardManifest.from_json(await hook.read_bytes(*ref))
            if not manifest.complete:
                raise AzureComputeConfigError(
                    f"manifest {ref[1]!r} describes a split that stopped early ({manifest.error}); rerun the split",
                    field="manifest",
                )
            if prefix is None:
                expected_names, prefix = manifest.chunk_names, manifest.prefix
                known_sizes = {c.name: c.size for c in manifest.chunks}
            elif expected_count is None:
                expected_count = len(manifest.chunks)
        if not await hook.container_exists(container):
            raise AzureComputeConfigError(f"container {container!r} does not exist", field="container")
        if known_sizes:  # the manifest has the sizes: a names-only listing is enough (and much cheaper)
            found = {
                name: known_sizes.get(name, 0) async for name in hook.list_blob_names(container, prefix or "")
            }
        else:
            found = {b.name: b.size async for b in hook.list_blobs(container, prefix or "")}
        try:
            shards = plan_shards(
                found,
                expected_count=expected_count,
                expected_names=expected_names,
                index_pattern=index_pattern,
            )
        except ShardSetError as err:
            raise AzureComputeConfigError(f"{err} (under {container}/{prefix})", field="prefix") from err
        self.log.info("Merging %d shards from %s/%s", len(shards), container, prefix)
        return [s.name for s in shards], [found[s.name] for s in shards]

    async def _check_output(self, hook: BlobAsyncHook, context: Context, out_container: str) -> str:
        if not (self.output_path or self.output_blob):
            return "xcom"
        if self.output_path:
            path = Path(str(self.output_path))
            if path.exists() and not self.overwrite:
                raise AzureComputeConfigError(
                    f"{path} already exists; set overwrite=True or choose another output_path",
                    field="output_path",
                )
            return str(path)
        blob = str(self.output_blob)
        await self.ensure_container(hook, out_container, context)
        entry = await hook.get_blob(out_container, blob)
        if entry is not None and not self.overwrite and not owned_by_task(entry.metadata, context):
            raise conflict_error([blob], "output_blob", f"blobs in {out_container!r}")
        return f"{hook.container(out_container).url}/{blob}"

    async def _copy(
        self, hook: BlobAsyncHook, container: str, names: list[str], sizes: list[int], mode: MergeMode,
        fn: ShardCallable | None,
        sink: Sink,
        memory: MemorySink | None = None,
    ) -> None:  # fmt: skip
        joiner = None if fn is not None else make_joiner(mode)
        progress = Progress(self.log, "merge")
        read = 0
        ordered = hook.iter_ordered(container, names, sizes=sizes, max_concurrency=self.concurrency())
        async for i, pieces in ordered:
            shard = Shard(i, names[i])
            if memory is not None:
                memory.next_shard()
            if fn is not None:
                await _run_callable(fn, shard, pieces, sink)
            else:
                assert joiner is not None
                try:
                    await sink.write(joiner.start(shard))
                    async for data in pieces:
                        read += len(data)
                        await sink.write(joiner.feed(data))
                    await sink.write(joiner.end())
                except ValueError as err:
                    raise AzureComputeConfigError(str(err), field="mode") from err
            progress.tick(sink.size, i + 1)
        progress.done(sink.size, len(names))


__all__ = ["BlobMergeOperator", "FileSink"]
