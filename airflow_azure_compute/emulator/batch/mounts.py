"""Pool ``mountConfiguration`` emulated: what a task sees under ``$AZ_BATCH_NODE_MOUNTS_DIR``.

On Azure every mount of a pool appears on each node at ``$AZ_BATCH_NODE_MOUNTS_DIR/<relativeMountPath>``.
Here:

- **Azure Files, NFS and CIFS** (``azureFileShareConfiguration``, ``nfsMountConfiguration``,
  ``cifsMountConfiguration``): one persistent directory per share (``azureFileUrl``) or export
  (``source``) under the emulator's work directory, shared by every node and task of every pool, as a
  network share is: what one task writes, every other task sees at once. Each node's mount path is a
  symbolic link to it.
- **Blob containers** (``azureBlobFileSystemConfiguration``): a directory per node, synced with the
  container in the Storage emulator through the mount's ``sasKey`` or ``accountKey``. Before a task
  starts, blobs created or changed since the node's last sync are downloaded (and files of blobs
  deleted meanwhile removed, unless changed on the node); after it ends, files created or changed on
  the node are uploaded and blobs of files deleted there are deleted. So a task sees every blob written
  before it started (by clients or by tasks on any node that have ended), and its own writes are
  blobs once it has ended: the close-to-open consistency of blobfuse's file cache, taken at task
  boundaries.

The Blob endpoint of an account comes from ``--batch-blob-endpoint`` (a URL with ``{account}``), or
else from ``--storage-upstream`` (Azurite's path-style blob URL); without either, a pool with a blob
mount is refused (`not_emulated.check_pool`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_azure_compute.emulator.batch.run_blob import gather_limited
from airflow_azure_compute.emulator.batch.run_failures import TaskFailure

#: failureInfo code of a task whose node could not sync a blob mount (bad credential, no container).
MOUNT_FAILED = "MountFailed"
_SHARED_KINDS = {
    "azureFileShareConfiguration": "azureFileUrl",
    "nfsMountConfiguration": "source",
    "cifsMountConfiguration": "source",
}
_BLOB = "azureBlobFileSystemConfiguration"
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def blob_endpoint_template(explicit: str | None, storage_upstream: str | None) -> str | None:
    """The Blob service URL of an account, with ``{account}`` in it; None when none is configured."""
    if explicit:
        return explicit if "{account}" in explicit else explicit.rstrip("/") + "/{account}"
    if storage_upstream:
        parts = urlsplit(storage_upstream)
        return f"{parts.scheme}://{parts.netloc}/{{account}}"
    return None


def _slug(kind: str, key: str) -> str:
    digest = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:12]
    return f"{_SLUG.sub('_', key.strip('/'))[-80:]}-{digest}"


def mount_entries(pool_spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(kind, configuration)`` of each mount of a pool body."""
    out = []
    for mount in pool_spec.get("mountConfiguration") or []:
        for kind in (_BLOB, *_SHARED_KINDS):
            if isinstance(mount, dict) and isinstance(mount.get(kind), dict):
                out.append((kind, mount[kind]))
                break
    return out


@dataclass
class _Synced:
    """What one node's blob mount directory held at its last sync: name -> (etag, mtime_ns, size)."""

    files: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MountManager:
    """Lays out the mounts of a node before each run on it and writes blob mounts back after it."""

    def __init__(self, workdir: Path, blob_endpoint: str | None) -> None:
        self.shares = workdir / "batch-mounts"
        self.blob_endpoint = blob_endpoint
        self._synced: dict[Path, _Synced] = {}

    def shared_dirs(self, pool_spec: Mapping[str, Any]) -> list[Path]:
        """The shared directories the pool's mounts link to (a container run binds them too)."""
        return [
            self.shares / kind / _slug(kind, str(cfg.get(_SHARED_KINDS[kind]) or ""))
            for kind, cfg in mount_entries(pool_spec)
            if kind in _SHARED_KINDS
        ]

    async def before_run(self, pool_spec: Mapping[str, Any], node_root: Path) -> None:
        """Create every mount of the pool on the node; pull blob mounts. Raises `TaskFailure`."""
        entries = mount_entries(pool_spec)
        if not entries:
            return
        mounts_dir = node_root / "fsmounts"
        mounts_dir.mkdir(parents=True, exist_ok=True)
        for kind, cfg in entries:
            target = mounts_dir / str(cfg.get("relativeMountPath") or "")
            if kind in _SHARED_KINDS:
                share = self.shares / kind / _slug(kind, str(cfg.get(_SHARED_KINDS[kind]) or ""))
                share.mkdir(parents=True, exist_ok=True)
                if not target.is_symlink():
                    if target.exists():
                        shutil.rmtree(target)
                    target.symlink_to(share, target_is_directory=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                await self._sync(cfg, target, pull=True)

    async def after_run(self, pool_spec: Mapping[str, Any], node_root: Path) -> None:
        """Write back what the run created, changed or deleted on the node's blob mounts."""
        for kind, cfg in mount_entries(pool_spec):
            if kind == _BLOB:
                target = node_root / "fsmounts" / str(cfg.get("relativeMountPath") or "")
                if target.is_dir():
                    await self._sync(cfg, target, pull=False)

    def forget(self, node_root: Path) -> None:
        """Drop the sync state of a node's mounts (the node left its pool)."""
        for path in [p for p in self._synced if node_root in p.parents]:
            del self._synced[path]

    # ------------------------------------------------------------------ blob mounts
    def _container(self, cfg: Mapping[str, Any]) -> Any:
        from azure.core.credentials import AzureNamedKeyCredential
        from azure.storage.blob.aio import ContainerClient

        if not self.blob_endpoint:
            raise TaskFailure(MOUNT_FAILED, "The emulator has no Blob endpoint for blob mounts")
        account = str(cfg.get("accountName") or "")
        url = self.blob_endpoint.replace("{account}", account)
        credential: Any
        if cfg.get("sasKey"):
            credential = str(cfg["sasKey"]).lstrip("?")
        else:
            credential = AzureNamedKeyCredential(account, str(cfg.get("accountKey") or ""))
        return ContainerClient(url, str(cfg.get("containerName") or ""), credential=credential)

    async def _sync(self, cfg: Mapping[str, Any], target: Path, *, pull: bool) -> None:
        state = self._synced.setdefault(target, _Synced())
        async with state.lock:
            try:
                async with self._container(cfg) as container:
                    if pull:
                        await self._pull(container, target, state)
                    else:
                        await self._push(container, target, state)
            except TaskFailure:
                raise
            except Exception as exc:  # an SDK error: name the mount, never the credential
                name = f"{cfg.get('accountName')}/{cfg.get('containerName')}"
                code = getattr(exc, "error_code", None) or type(exc).__name__
                raise TaskFailure(
                    MOUNT_FAILED,
                    f"The blob mount {cfg.get('relativeMountPath')!r} ({name}) could not be synced: {code}",
                ) from None

    @staticmethod
    def _stat(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_mtime_ns, st.st_size

    def _changed_locally(self, path: Path, state: _Synced, name: str) -> bool:
        known = state.files.get(name)
        if not path.is_file():
            return False
        return known is None or self._stat(path) != known[1:]

    async def _pull(self, container: Any, target: Path, state: _Synced) -> None:
        seen: set[str] = set()
        downloads = []
        async for blob in container.list_blobs():
            name = str(blob.name)
            seen.add(name)
            local = _inside(target, name)
            if local is None:
                continue
            known = state.files.get(name)
            if known is not None and known[0] == _etag(blob.etag) and local.is_file():
                continue
            if known is not None and self._changed_locally(local, state, name):
                continue  # changed on this node and not yet written back: the node's copy wins
            downloads.append(self._download(container, name, local, _etag(blob.etag), state))
        await gather_limited(downloads)
        for name in [n for n in state.files if n not in seen]:
            local = _inside(target, name)
            if local is not None and local.is_file() and not self._changed_locally(local, state, name):
                local.unlink()
            del state.files[name]

    async def _download(self, container: Any, name: str, local: Path, etag: str, state: _Synced) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        downloader = await container.download_blob(name)
        with open(local, "wb") as out:  # streamed in chunks: a large blob never sits in memory
            await downloader.readinto(out)
        state.files[name] = (etag, *self._stat(local))

    async def _push(self, container: Any, target: Path, state: _Synced) -> None:
        present: set[str] = set()
        uploads = []
        for path in sorted(p for p in target.rglob("*") if p.is_file() and not p.is_symlink()):
            name = path.relative_to(target).as_posix()
            present.add(name)
            if self._changed_locally(path, state, name):
                uploads.append(self._upload(container, name, path, state))
        await gather_limited(uploads)
        for name in [n for n in state.files if n not in present]:
            try:
                await container.delete_blob(name)
            except Exception as exc:  # already gone: nothing to write back
                if getattr(exc, "status_code", None) != 404:
                    raise
            del state.files[name]

    async def _upload(self, container: Any, name: str, path: Path, state: _Synced) -> None:
        stat = self._stat(path)
        with open(path, "rb") as data:
            result = await container.get_blob_client(name).upload_blob(data, overwrite=True)
        state.files[name] = (_etag(result.get("etag")), *stat)


def _etag(value: object) -> str:
    return str(value or "").strip('"')


def _inside(root: Path, name: str) -> Path | None:
    """``root/name`` for a blob name that stays inside ``root`` (None for ``..`` or absolute names)."""
    parts = [p for p in name.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or name.endswith("/"):
        return None
    return root.joinpath(*parts)


__all__ = ["MOUNT_FAILED", "MountManager", "blob_endpoint_template", "mount_entries"]
