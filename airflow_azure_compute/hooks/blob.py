"""Blob Storage hooks: `BlobHook` (sync) and `BlobAsyncHook` (``azure.storage.blob.aio``).

Both read the same parsed connection (`ServiceSettings`) and
build their client from `client_kwargs`, so auth exists once. The async hook's
`BlobAsyncHook.iter_ordered` downloads many blobs concurrently and yields their bytes in order;
the upload side (`ChunkUploader`, `BlockSink`, `TaskPool`) lives in
`airflow_azure_compute.hooks.blob_transfer` and is re-exported here.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow_azure_compute.connections import ServiceKind, ServiceSettings, StrEnum
from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError
from airflow_azure_compute.hooks.base import AzureComputeBaseHook, AzureComputeSyncHook
from airflow_azure_compute.hooks.blob_transfer import (
    BLOCK_SIZE,
    BlockSink,
    ChunkUploader,
    MiB,
    TaskPool,
    content_settings,
)
from airflow_azure_compute.hooks.sdk_options import sdk_client_kwargs, storage_audience
from airflow_azure_compute.hooks.storage_retry import storage_retry_policy

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient
    from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient
    from azure.storage.blob.aio import ContainerClient as AsyncContainerClient


#: Delete Blob batch limit (Blob Batch API).
DELETE_BATCH = 256
DEFAULT_CONCURRENCY = 16


class SasAccess(StrEnum):
    """Least-privilege SAS profiles: ``read`` = read + list (inputs), ``write`` = create + write (outputs)."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """A listed blob: name, size, base64 Content-MD5 (or None) and metadata (when asked for)."""

    name: str
    size: int
    md5: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def client_kwargs(settings: ServiceSettings, *, aio: bool) -> dict[str, Any]:
    """Keyword arguments of ``BlobServiceClient`` (sync or aio) except the credential; with Entra ID,
    the Storage token audience of the connection's cloud."""
    return {
        "account_url": settings.endpoint,
        "max_single_put_size": BLOCK_SIZE,
        "max_block_size": BLOCK_SIZE,
        "max_single_get_size": BLOCK_SIZE,
        "max_chunk_get_size": BLOCK_SIZE,
        "retry_policy": storage_retry_policy(aio=aio),
        **storage_audience(settings),
        **sdk_client_kwargs(settings, aio=aio),
    }


def entry_of(props: Any) -> BlobEntry:
    md5 = getattr(props.content_settings, "content_md5", None)
    return BlobEntry(
        name=props.name,
        size=int(props.size or 0),
        md5=base64.b64encode(bytes(md5)).decode() if md5 else None,
        metadata=dict(props.metadata or {}),
    )


def remote_error(operation: str, err: Exception) -> AzureComputeRemoteError:
    """Our error for an SDK error, with the service's error code and HTTP status."""
    code = getattr(err, "error_code", None) or getattr(getattr(err, "error", None), "code", None)
    status = getattr(err, "status_code", None)
    message = (getattr(err, "message", None) or str(err)).splitlines()[0]
    return AzureComputeRemoteError(f"{operation}: {message}", code=str(code) if code else None, status=status)


def sas_permission(access: SasAccess | str, *, container: bool) -> Any:
    """The least privilege for ``access``: read+list (list only for a container) or create+write."""
    from azure.storage.blob import BlobSasPermissions, ContainerSasPermissions

    access = SasAccess(access)
    if container:
        if access is SasAccess.READ:
            return ContainerSasPermissions(read=True, list=True)
        return ContainerSasPermissions(create=True, write=True)
    if access is SasAccess.READ:
        return BlobSasPermissions(read=True)
    return BlobSasPermissions(create=True, write=True)


def sas_window(expiry: timedelta | datetime) -> tuple[datetime, datetime]:
    """(start, expiry) in UTC; start is 5 minutes back to absorb clock skew."""
    now = datetime.now(timezone.utc)
    end = now + expiry if isinstance(expiry, timedelta) else expiry.astimezone(timezone.utc)
    if end <= now:
        raise AzureComputeConfigError(
            "the SAS expiry is in the past; give a positive duration", field="expiry"
        )
    return now - timedelta(minutes=5), end


def sign_sas(
    settings: ServiceSettings,
    container: str,
    *,
    access: SasAccess | str,
    start: datetime,
    expiry: datetime,
    blob_name: str | None = None,
    user_delegation_key: Any = None,
) -> str:
    """A SAS token (no leading ``?``) for a container or one blob; account key or user delegation key."""
    from azure.storage.blob import generate_blob_sas, generate_container_sas

    if user_delegation_key is None and not settings.account_key:
        raise AzureComputeConfigError(
            f"connection {settings.conn_id!r} has neither an account key nor Entra ID credentials, so it "
            "cannot sign a SAS; use a shared-key or Entra ID connection",
            field="conn_id",
        )
    common: dict[str, Any] = {
        "account_name": settings.account_name,
        "container_name": container,
        "permission": sas_permission(access, container=blob_name is None),
        "expiry": expiry,
        "start": start,
    }
    if user_delegation_key is not None:
        common["user_delegation_key"] = user_delegation_key
    else:
        common["account_key"] = settings.account_key
    if blob_name is None:
        return str(generate_container_sas(**common))
    return str(generate_blob_sas(blob_name=blob_name, **common))


class BlobHook(AzureComputeSyncHook):
    """Sync Blob Storage hook (``azure.storage.blob.BlobServiceClient``)."""

    service: ClassVar[ServiceKind] = ServiceKind.BLOB
    hook_name = "Azure Blob Storage (azure-compute)"

    @cached_property
    def client(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(
            credential=self.settings.credential(), **client_kwargs(self.settings, aio=False)
        )

    def container(self, name: str) -> ContainerClient:
        return self.client.get_container_client(name)

    def probe(self) -> str:
        page: Iterable[Any] = next(self.client.list_containers(results_per_page=5).by_page(), [])
        return f"Blob service reachable at {self.settings.endpoint}: {len(list(page))} container(s) on the first page"

    # -- containers ----------------------------------------------------------------------------
    def create_container(self, name: str, metadata: Mapping[str, str] | None = None) -> bool:
        """Create ``name`` with ``metadata``; False when it already existed (left unchanged)."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self.client.create_container(name, metadata=dict(metadata or {}))
            return True
        except ResourceExistsError:
            return False

    def container_exists(self, name: str) -> bool:
        return bool(self.container(name).exists())

    def get_container_metadata(self, name: str) -> dict[str, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return dict(self.container(name).get_container_properties().metadata or {})
        except ResourceNotFoundError:
            return None

    def delete_container(self, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.client.delete_container(name)
            return True
        except ResourceNotFoundError:
            return False

    def list_containers(self, name_starts_with: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
        for c in self.client.list_containers(name_starts_with=name_starts_with, include_metadata=True):
            yield c.name, dict(c.metadata or {})

    # -- blobs ---------------------------------------------------------------------------------
    def list_blobs(
        self, container: str, prefix: str = "", *, metadata: bool = False, page_size: int = 5000
    ) -> Iterator[BlobEntry]:
        """Every blob under ``prefix``, page by page (``page_size`` per request)."""
        pages = self.container(container).list_blobs(
            name_starts_with=prefix or None,
            include=["metadata"] if metadata else None,
            results_per_page=page_size,
        )
        for page in pages.by_page():
            yield from map(entry_of, page)

    def upload_bytes(
        self, container: str, name: str, data: bytes, *, overwrite: bool = False,
        metadata: Mapping[str, str] | None = None, md5: str | None = None,
    ) -> None:  # fmt: skip
        md5 = md5 or base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self.container(container).upload_blob(
            name,
            data,
            overwrite=overwrite,
            metadata=dict(metadata or {}),
            content_settings=content_settings(md5),
        )

    def upload_stream(
        self, container: str, name: str, stream: IO[bytes] | Iterable[bytes], *, length: int | None = None,
        overwrite: bool = False, metadata: Mapping[str, str] | None = None, md5: str | None = None,
        max_concurrency: int = 8,
    ) -> None:  # fmt: skip
        """Upload a stream (file object or iterable of bytes) in blocks, ``max_concurrency`` at a time."""
        self.container(container).upload_blob(
            name, stream, length=length, overwrite=overwrite, metadata=dict(metadata or {}),
            content_settings=content_settings(md5), max_concurrency=max_concurrency,
        )  # fmt: skip

    def upload_file(self, container: str, name: str, path: str, **kwargs: Any) -> None:
        """Upload a local file (same options as `upload_stream`)."""
        with open(path, "rb") as f:
            self.upload_stream(container, name, f, **kwargs)

    def download_stream(self, container: str, name: str, *, max_concurrency: int = 1) -> Iterator[bytes]:
        """The blob's bytes, block by block (bounded memory)."""
        yield from self.container(container).download_blob(name, max_concurrency=max_concurrency).chunks()

    def read_bytes(self, container: str, name: str) -> bytes:
        return bytes(self.container(container).download_blob(name).readall())

    def read_bytes_if_exists(self, container: str, name: str) -> bytes | None:
        """The blob's bytes, or None when the blob (or its container) does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.read_bytes(container, name)
        except ResourceNotFoundError:
            return None

    def get_blob(self, container: str, name: str) -> BlobEntry | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return entry_of(self.container(container).get_blob_client(name).get_blob_properties())
        except ResourceNotFoundError:
            return None

    def delete_blobs(self, container: str, names: Sequence[str]) -> int:
        """Delete ``names`` with Blob Batch requests (256 per batch); one by one where batch is refused."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        client = self.container(container)
        deleted = 0
        for i in range(0, len(names), DELETE_BATCH):
            group = list(names[i : i + DELETE_BATCH])
            try:
                client.delete_blobs(*group, raise_on_any_failure=False)
            except HttpResponseError:
                for name in group:
                    with suppress(ResourceNotFoundError):
                        client.delete_blob(name)
            deleted += len(group)
        return deleted

    def delete_prefix(
        self, container: str, prefix: str, *, where: Callable[[BlobEntry], bool] | None = None
    ) -> list[str]:
        """Delete the blobs under ``prefix`` (only those ``where`` accepts); returns their names."""
        names = [
            b.name
            for b in self.list_blobs(container, prefix, metadata=where is not None)
            if not where or where(b)
        ]
        self.delete_blobs(container, names)
        return names

    # -- SAS -----------------------------------------------------------------------------------
    def generate_sas(
        self, container: str, *, access: SasAccess | str = SasAccess.READ, expiry: timedelta | datetime,
        blob_name: str | None = None,
    ) -> str:  # fmt: skip
        """A least-privilege SAS token for a container (or one blob): user delegation with Entra ID."""
        start, end = sas_window(expiry)
        key = self.client.get_user_delegation_key(start, end) if self.settings.uses_entra else None
        return sign_sas(self.settings, container, access=access, start=start, expiry=end, blob_name=blob_name,
                        user_delegation_key=key)  # fmt: skip

    def prefix_sas_urls(self, container: str, prefix: str, *, expiry: timedelta | datetime) -> dict[str, str]:
        """Read-only SAS URLs, one per blob under ``prefix``: the least privilege for a prefix of inputs.

        (Plain Blob Storage has no prefix-scoped SAS; one user delegation key signs them all.)
        """
        start, end = sas_window(expiry)
        key = self.client.get_user_delegation_key(start, end) if self.settings.uses_entra else None
        base = self.settings.endpoint.rstrip("/")
        return {
            b.name: f"{base}/{container}/{quote(b.name)}?"
            + sign_sas(self.settings, container, access=SasAccess.READ, start=start, expiry=end,
                       blob_name=b.name, user_delegation_key=key)
            for b in self.list_blobs(container, prefix)
        }  # fmt: skip

    def container_url(self, container: str, sas: str | None = None) -> str:
        url = f"{self.settings.endpoint.rstrip('/')}/{container}"
        return f"{url}?{sas}" if sas else url


class BlobAsyncHook(AzureComputeBaseHook):
    """Async Blob Storage hook (``azure.storage.blob.aio``) with the bounded transfer helpers.

    Use it as an async context manager (``async with BlobAsyncHook(azure_conn_id) as hook:``): that opens
    one service client for every call inside. Methods mirror `BlobHook`'s.
    """

    service: ClassVar[ServiceKind] = ServiceKind.BLOB
    hook_name = "Azure Blob Storage (azure-compute, async)"
    _client: AsyncBlobServiceClient | None = None
    _credential: Any = None

    async def __aenter__(self) -> BlobAsyncHook:
        from azure.storage.blob.aio import BlobServiceClient

        settings = await self.aget_settings()
        self._credential = settings.async_credential()
        self._client = BlobServiceClient(credential=self._credential, **client_kwargs(settings, aio=True))
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        close = getattr(self._credential, "close", None)
        if close is not None and asyncio.iscoroutinefunction(close):
            await close()

    @property
    def client(self) -> AsyncBlobServiceClient:
        if self._client is None:
            raise RuntimeError("use BlobAsyncHook inside 'async with hook:'")
        return self._client

    def container(self, name: str) -> AsyncContainerClient:
        return self.client.get_container_client(name)

    # -- containers ----------------------------------------------------------------------------
    async def create_container(self, name: str, metadata: Mapping[str, str] | None = None) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            await self.client.create_container(name, metadata=dict(metadata or {}))
            return True
        except ResourceExistsError:
            return False

    async def container_exists(self, name: str) -> bool:
        return bool(await self.container(name).exists())

    async def get_container_metadata(self, name: str) -> dict[str, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return dict((await self.container(name).get_container_properties()).metadata or {})
        except ResourceNotFoundError:
            return None

    async def delete_container(self, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self.client.delete_container(name)
            return True
        except ResourceNotFoundError:
            return False

    async def list_containers(
        self, name_starts_with: str | None = None
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        async for c in self.client.list_containers(name_starts_with=name_starts_with, include_metadata=True):
            yield c.name, dict(c.metadata or {})

    # -- blobs ---------------------------------------------------------------------------------
    async def list_blobs(
        self, container: str, prefix: str = "", *, metadata: bool = False, page_size: int = 5000
    ) -> AsyncIterator[BlobEntry]:
        pages = self.container(container).list_blobs(
            name_starts_with=prefix or None,
            include=["metadata"] if metadata else None,
            results_per_page=page_size,
        )
        async for page in pages.by_page():
            async for props in page:
                yield entry_of(props)

    async def list_blob_names(
        self, container: str, prefix: str = "", *, page_size: int = 5000
    ) -> AsyncIterator[str]:
        """Only the names under ``prefix`` (a much cheaper parse than `list_blobs`)."""
        pages = self.container(container).list_blob_names(
            name_starts_with=prefix or None, results_per_page=page_size
        )
        async for page in pages.by_page():
            async for name in page:
                yield name

    async def get_blob(self, container: str, name: str) -> BlobEntry | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return entry_of(await self.container(container).get_blob_client(name).get_blob_properties())
        except ResourceNotFoundError:
            return None

    async def upload_bytes(
        self, container: str, name: str, data: bytes, *, overwrite: bool = False,
        metadata: Mapping[str, str] | None = None, md5: str | None = None,
    ) -> None:  # fmt: skip
        md5 = md5 or base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        await self.container(container).upload_blob(
            name,
            data,
            overwrite=overwrite,
            metadata=dict(metadata or {}),
            content_settings=content_settings(md5),
        )

    async def upload_stream(
        self, container: str, name: str, stream: IO[bytes] | Iterable[bytes], *, length: int | None = None,
        overwrite: bool = False, metadata: Mapping[str, str] | None = None, md5: str | None = None,
        max_concurrency: int = 4,
    ) -> None:  # fmt: skip
        await self.container(container).upload_blob(
            name, stream, length=length, overwrite=overwrite, metadata=dict(metadata or {}),
            content_settings=content_settings(md5), max_concurrency=max_concurrency,
        )  # fmt: skip

    async def upload_file(self, container: str, name: str, path: str, **kwargs: Any) -> None:
        with open(path, "rb") as f:
            await self.upload_stream(container, name, f, **kwargs)

    async def download_stream(self, container: str, name: str) -> AsyncGenerator[bytes, None]:
        downloader = await self.container(container).download_blob(name)
        async for chunk in downloader.chunks():
            yield chunk

    async def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        downloader = await self.container(container).download_blob(name, offset=offset, length=length)
        return bytes(await downloader.readall())

    async def read_bytes(self, container: str, name: str) -> bytes:
        return bytes(await (await self.container(container).download_blob(name)).readall())

    async def delete_blobs(
        self, container: str, names: Sequence[str], *, max_concurrency: int = DEFAULT_CONCURRENCY
    ) -> int:
        """Blob Batch deletes (256 per request); concurrent single deletes where batch is refused."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        client = self.container(container)

        async def one(name: str) -> None:
            with suppress(ResourceNotFoundError):
                await client.delete_blob(name)

        for i in range(0, len(names), DELETE_BATCH):
            group = list(names[i : i + DELETE_BATCH])
            try:
                async for _ in await client.delete_blobs(*group, raise_on_any_failure=False):
                    pass
            except HttpResponseError:
                pool = TaskPool(max_concurrency)
                for name in group:
                    await pool.submit(one, name)
                await pool.join()
        return len(names)

    async def delete_prefix(
        self, container: str, prefix: str, *, where: Callable[[BlobEntry], bool] | None = None
    ) -> list[str]:
        names = [b.name async for b in self.list_blobs(container, prefix, metadata=where is not None)
                 if not where or where(b)]  # fmt: skip
        await self.delete_blobs(container, names)
        return names

    async def generate_sas(
        self, container: str, *, access: SasAccess | str = SasAccess.READ, expiry: timedelta | datetime,
        blob_name: str | None = None,
    ) -> str:  # fmt: skip
        settings = await self.aget_settings()
        start, end = sas_window(expiry)
        key = await self.client.get_user_delegation_key(start, end) if settings.uses_entra else None
        return sign_sas(settings, container, access=access, start=start, expiry=end, blob_name=blob_name,
                        user_delegation_key=key)  # fmt: skip

    # -- ordered concurrent download -----------------------------------------------------------
    async def iter_ordered(
        self, container: str, names: Sequence[str], *, sizes: Sequence[int] | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY, max_buffer: int = 64 * MiB,
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:  # fmt: skip
        """Yield ``(i, pieces)`` for each blob in order while up to ``max_concurrency`` download ahead.

        Consume each ``pieces`` fully before moving on. A request slot is held only while bytes come
        off the network, so a finished download waiting for its turn never blocks the next ones.
        Read-ahead stops at ``max_concurrency + 4`` blobs or ``max_buffer`` bytes (each blob counts
        its size, at most three 4 MiB blocks; give ``sizes`` when known), so memory stays bounded.
        """
        window = max_concurrency + 4
        queues: list[asyncio.Queue[bytes | BaseException | None]] = [asyncio.Queue(maxsize=2) for _ in names]
        active = asyncio.Semaphore(max_concurrency)
        room = asyncio.Condition()
        state = {"reserved": 0, "launched": 0, "consumed": 0}
        tasks: list[asyncio.Task[None]] = []
        client = self.container(container)

        def cost(i: int) -> int:
            return max(1, min(sizes[i] if sizes is not None else 3 * BLOCK_SIZE, 3 * BLOCK_SIZE))

        def has_room(i: int) -> bool:
            if state["launched"] == state["consumed"]:
                return True
            return (
                state["launched"] - state["consumed"] < window and state["reserved"] + cost(i) <= max_buffer
            )

        async def fetch(i: int) -> None:
            held = True
            try:
                downloader = await client.download_blob(names[i])
                chunks = downloader.chunks()
                while True:
                    try:
                        chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        break
                    active.release()
                    held = False
                    await queues[i].put(chunk)
                    await active.acquire()
                    held = True
                active.release()
                held = False
                await queues[i].put(None)
            except Exception as err:
                if held:
                    active.release()
                    held = False
                await queues[i].put(err)
            finally:
                if held:
                    active.release()

        async def launch() -> None:
            for i in range(len(names)):
                async with room:
                    await room.wait_for(lambda i=i: has_room(i))  # type: ignore[misc]
                    state["reserved"] += cost(i)
                    state["launched"] += 1
                await active.acquire()
                tasks.append(asyncio.ensure_future(fetch(i)))

        async def pieces(i: int) -> AsyncIterator[bytes]:
            while (item := await queues[i].get()) is not None:
                if isinstance(item, AzureComputeRemoteError):
                    raise item
                if isinstance(item, Exception):
                    raise remote_error(f"download {names[i]!r}", item) from item
                if isinstance(item, BaseException):
                    raise item
                yield item

        launcher = asyncio.ensure_future(launch())
        try:
            for i in range(len(names)):
                yield i, pieces(i)
                async with room:
                    state["reserved"] -= cost(i)
                    state["consumed"] += 1
                    room.notify_all()
        finally:
            launcher.cancel()
            for t in tasks:
                t.cancel()
            await asyncio.gather(launcher, *tasks, return_exceptions=True)


__all__ = [
    "BLOCK_SIZE",
    "BlobAsyncHook",
    "BlobEntry",
    "BlobHook",
    "BlockSink",
    "ChunkUploader",
    "SasAccess",
    "TaskPool",
    "client_kwargs",
    "remote_error",
    "sign_sas",
]
