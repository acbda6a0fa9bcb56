"""Resource file downloads and output file uploads over the Blob REST API, with SAS URLs.

Plain aiohttp requests on the URLs the task carries (Azurite or Azure): ``GET`` a blob, list a
container (``restype=container&comp=list&prefix=``, following ``NextMarker``), ``PUT`` a block blob.
SAS query strings are sent as given and never written to logs, files or failureInfo.
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import os
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from airflow_azure_compute.emulator.batch.run_failures import (
    AUTO_STORAGE_NOT_CONFIGURED,
    BLOB_ACCESS_DENIED,
    BLOB_NOT_FOUND,
    DOWNLOAD_FAILED,
    INVALID_OUTPUT_FILE,
    INVALID_RESOURCE_FILE,
    UPLOAD_CONTAINER_NOT_FOUND,
    UPLOAD_FAILED,
    TaskFailure,
    redact_url,
)
from airflow_azure_compute.emulator.batch.run_files import safe_join
from airflow_azure_compute.emulator.batch.run_patterns import match_output_files

#: Blob REST version sent with every request (accepted by Azure and by Azurite).
BLOB_API_VERSION = "2021-08-06"
#: Concurrent blob transfers per task.
TRANSFER_CONCURRENCY = 8
#: ``fileMode`` Batch applies on Linux when a resource file has none.
DEFAULT_FILE_MODE = 0o770
UPLOAD_CONDITIONS = ("tasksuccess", "taskfailure", "taskcompletion")
_CHUNK = 1 << 16
T = TypeVar("T")


def _split_url(url: str) -> tuple[str, str]:
    base, _, query = url.partition("?")
    return base.rstrip("/"), query


def _url(base: str, query: str, *extra: str) -> URL:
    parts = [part for part in (query, *extra) if part]
    return URL(f"{base}?{'&'.join(parts)}" if parts else base, encoded=True)


def _blob_url(container_base: str, query: str, blob_name: str) -> URL:
    return _url(f"{container_base}/{quote(blob_name, safe='/')}", query)


async def gather_limited(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` at most ``TRANSFER_CONCURRENCY`` at a time; the first error cancels the rest."""
    semaphore = asyncio.Semaphore(TRANSFER_CONCURRENCY)

    async def limited(job: Coroutine[Any, Any, None]) -> None:
        try:
            async with semaphore:
                await job
        finally:
            job.close()  # no-op once finished; silences "never awaited" when cancelled while queued

    tasks = [asyncio.ensure_future(limited(job)) for job in jobs]
    if not tasks:
        return
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


# --- resource files -------------------------------------------------------------------------------


def _download_failure(
    status: int | None, url: str, file_path: str, error_code: str | None, *, what: str = "blob"
) -> TaskFailure:
    where = redact_url(url)
    if status == 404:
        code, message = BLOB_NOT_FOUND, f"The resource file {what} {where} was not found"
    elif status in (401, 403):
        code = BLOB_ACCESS_DENIED
        message = (
            f"Access to the resource file {what} {where} was refused: check the SAS (read, list, expiry)"
        )
    else:
        code = DOWNLOAD_FAILED
        message = f"Downloading the resource file {what} {where} failed" + (
            f" (HTTP {status})" if status else ""
        )
    details = {"Url": where}
    if file_path:
        details["FilePath"] = file_path
    if status:
        details["HttpStatusCode"] = str(status)
    if error_code:
        details["StorageErrorCode"] = error_code
    return TaskFailure(code, message, details=details)


def _file_mode(resource_file: dict[str, Any]) -> int:
    mode = resource_file.get("fileMode")
    if mode in (None, ""):
        return DEFAULT_FILE_MODE
    try:
        value = int(str(mode), 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise TaskFailure(INVALID_RESOURCE_FILE, f"fileMode {mode!r} is not an octal mode such as '0770'")
    return value


def _target(wd: Path, relative: str) -> Path:
    try:
        return safe_join(wd, relative)
    except ValueError as exc:
        raise TaskFailure(
            INVALID_RESOURCE_FILE,
            f"resource file path {relative!r} must stay inside the working directory: {exc}",
            details={"FilePath": relative},
        ) from None


#: Like Batch's node agent, a transfer is retried on throttling, server errors and dropped
#: connections (with backoff) before it fails the task.
TRANSFER_ATTEMPTS = 6
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()``, again after a transient failure (no response, or a 408/429/5xx status)."""
    for tries in itertools.count(1):
        try:
            return await attempt()
        except TaskFailure as failure:
            status = failure.details.get("HttpStatusCode")
            transient = status is None or int(status) in _TRANSIENT_STATUS
            if not transient or tries >= TRANSFER_ATTEMPTS:
                raise
            await asyncio.sleep(min(0.25 * 2**tries, 4.0))
    raise AssertionError("unreachable")


async def _download(http: aiohttp.ClientSession, url: URL, target: Path, file_path: str, mode: int) -> None:
    await _retrying(lambda: _download_once(http, url, target, file_path, mode))


async def _download_once(
    http: aiohttp.ClientSession, url: URL, target: Path, file_path: str, mode: int
) -> None:
    partial = target.with_name(f".{target.name}.partial")
    try:
        async with http.get(url) as response:
            if response.status != 200:
                raise _download_failure(
                    response.status, str(url), file_path, response.headers.get("x-ms-error-code")
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as out:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    out.write(chunk)
        os.replace(partial, target)
        os.chmod(target, mode)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        partial.unlink(missing_ok=True)
        failure = _download_failure(None, str(url), file_path, None)
        failure.details["Error"] = type(exc).__name__
        raise failure from None


async def list_blob_names(
    http: aiohttp.ClientSession, container_url: str, prefix: str, *, page_size: int | None = None
) -> list[str]:
    """Names of the blobs under ``prefix`` in a container given by a (SAS) URL; all pages."""
    return await _retrying(lambda: _list_blob_names_once(http, container_url, prefix, page_size=page_size))


async def _list_blob_names_once(
    http: aiohttp.ClientSession, container_url: str, prefix: str, *, page_size: int | None = None
) -> list[str]:
    base, query = _split_url(container_url)
    names: list[str] = []
    marker = ""
    while True:
        extra = ["restype=container", "comp=list", f"prefix={quote(prefix, safe='')}"]
        if page_size:
            extra.append(f"maxresults={page_size}")
        if marker:
            extra.append(f"marker={quote(marker, safe='')}")
        try:
            async with http.get(_url(base, query, *extra)) as response:
                if response.status != 200:
                    error_code = response.headers.get("x-ms-error-code")
                    raise _download_failure(response.status, container_url, "", error_code, what="container")
                body = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = _download_failure(None, container_url, "", None, what="container")
            failure.details["Error"] = type(exc).__name__
            raise failure from None
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            failure = _download_failure(200, container_url, "", None, what="container")
            failure.message += ": the listing is not Blob XML"
            raise failure from None
        names += [name for blob in root.iter("Blob") if (name := blob.findtext("Name"))]
        marker = root.findtext("NextMarker") or ""
        if not marker:
            return names


def _check_source(resource_file: dict[str, Any]) -> str:
    sources = [
        key
        for key in ("httpUrl", "storageContainerUrl", "autoStorageContainerName")
        if resource_file.get(key)
    ]
    if len(sources) != 1:
        raise TaskFailure(
            INVALID_RESOURCE_FILE,
            "a resource file needs exactly one of httpUrl, storageContainerUrl or autoStorageContainerName",
        )
    if sources[0] == "autoStorageContainerName":
        raise TaskFailure(
            AUTO_STORAGE_NOT_CONFIGURED,
            "autoStorageContainerName needs an auto-storage account linked to the Batch account, which "
            "the emulator does not have: use storageContainerUrl with a SAS URL (read and list) instead",
            details={"AutoStorageContainerName": str(resource_file["autoStorageContainerName"])},
        )
    if sources[0] == "httpUrl":
        if not resource_file.get("filePath"):
            raise TaskFailure(INVALID_RESOURCE_FILE, "a resource file with httpUrl needs filePath")
        if resource_file.get("blobPrefix"):
            raise TaskFailure(INVALID_RESOURCE_FILE, "blobPrefix is allowed only with a container source")
    return sources[0]


async def download_resource_files(
    http: aiohttp.ClientSession, resource_files: list[dict[str, Any]], wd: Path
) -> None:
    """Fetch every resource file into ``wd``; raise ``TaskFailure`` at the first problem."""
    jobs: list[Coroutine[Any, Any, None]] = []
    try:
        for resource_file in resource_files:
            jobs += await _plan_download(http, resource_file, wd)
    except BaseException:
        for job in jobs:
            job.close()
        raise
    await gather_limited(jobs)


async def _plan_download(
    http: aiohttp.ClientSession, resource_file: dict[str, Any], wd: Path
) -> list[Coroutine[Any, Any, None]]:
    source = _check_source(resource_file)
    mode = _file_mode(resource_file)
    file_path = str(resource_file.get("filePath") or "")
    if source == "httpUrl":
        url = URL(str(resource_file["httpUrl"]), encoded=True)
        return [_download(http, url, _target(wd, file_path), file_path, mode)]
    container_url = str(resource_file["storageContainerUrl"])
    base, query = _split_url(container_url)
    plans = []
    for name in await list_blob_names(http, container_url, str(resource_file.get("blobPrefix") or "")):
        if name.endswith("/"):
            continue  # a directory marker, not a file
        relative = f"{file_path.rstrip('/')}/{name}" if file_path else name
        plans.append((_blob_url(base, query, name), _target(wd, relative), relative))
    return [_download(http, url, target, relative, mode) for url, target, relative in plans]


# --- output files ---------------------------------------------------------------------------------


@dataclass
class UploadReport:
    """What the upload phase did: lines for ``fileuploadout.txt`` / ``fileuploaderr.txt``."""

    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    failure: TaskFailure | None = None

    def fail(self, failure: TaskFailure) -> None:
        self.err.append(f"{failure.code}: {failure.message}")
        self.failure = self.failure or failure


def should_upload(condition: str, succeeded: bool) -> bool:
    """Whether an upload condition fires for a task that exited with success (or not)."""
    return condition == "taskcompletion" or (condition == "tasksuccess") == succeeded


def _upload_failure(status: int | None, url: str, local: str, error_code: str | None) -> TaskFailure:
    not_found = status == 404 and error_code in (None, "ContainerNotFound")
    code = UPLOAD_CONTAINER_NOT_FOUND if not_found else UPLOAD_FAILED
    what = "the container was not found" if not_found else f"HTTP {status}" if status else "no response"
    details = {"FilePath": local, "Url": redact_url(url)}
    if status:
        details["HttpStatusCode"] = str(status)
    if error_code:
        details["StorageErrorCode"] = error_code
    return TaskFailure(code, f"Uploading {local} to {redact_url(url)} failed: {what}", details=details)


async def _upload(
    http: aiohttp.ClientSession,
    file: Path,
    url: URL,
    local: str,
    report: UploadReport,
    extra_headers: dict[str, str] | None = None,
) -> None:
    headers = {
        "x-ms-blob-type": "BlockBlob",
        "x-ms-version": BLOB_API_VERSION,
        "Content-Type": mimetypes.guess_type(file.name)[0] or "application/octet-stream",
    }
    for name, value in (extra_headers or {}).items():  # ``uploadHeaders`` replace the defaults
        for default in [k for k in headers if k.lower() == name.lower()]:
            del headers[default]
        headers[name] = value

    async def once() -> None:
        try:
            with open(file, "rb") as body:
                headers["Content-Length"] = str(os.fstat(body.fileno()).st_size)
                async with http.put(url, data=body, headers=headers) as response:
                    if response.status not in (200, 201):
                        error_code = response.headers.get("x-ms-error-code")
                        raise _upload_failure(response.status, str(url), local, error_code)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            failure = _upload_failure(None, str(url), local, None)
            failure.details["Error"] = type(exc).__name__
            raise failure from None

    try:
        await _retrying(once)
    except TaskFailure as failure:
        report.fail(failure)
        return
    report.out.append(f"Uploaded {local} to {redact_url(str(url))}")


async def upload_output_files(
    http: aiohttp.ClientSession,
    output_files: list[dict[str, Any]],
    wd: Path,
    task_dir: Path,
    *,
    succeeded: bool,
) -> UploadReport:
    """Upload the matches of every output file spec whose condition fires; never raises ``TaskFailure``."""
    report = UploadReport()
    jobs: list[Coroutine[Any, Any, None]] = []
    for spec in output_files:
        pattern = str(spec.get("filePattern") or "")
        container = (spec.get("destination") or {}).get("container") or {}
        container_url = str(container.get("containerUrl") or "")
        condition = str((spec.get("uploadOptions") or {}).get("uploadCondition") or "taskcompletion").lower()
        if not pattern or not container_url or condition not in UPLOAD_CONDITIONS:
            report.fail(
                TaskFailure(
                    INVALID_OUTPUT_FILE,
                    f"output file {pattern!r} needs filePattern, destination.container.containerUrl and an "
                    f"uploadCondition among {', '.join(UPLOAD_CONDITIONS)}",
                )
            )
            continue
        if not should_upload(condition, succeeded):
            report.out.append(f"Skipped {pattern}: upload condition {condition} not met")
            continue
        try:
            matches = match_output_files(wd, task_dir, pattern, container.get("path"))
        except ValueError as exc:
            report.fail(TaskFailure(INVALID_OUTPUT_FILE, str(exc), details={"FilePattern": pattern}))
            continue
        if not matches:
            report.out.append(f"No files matched {pattern}")
        base, query = _split_url(container_url)
        extra = {
            str(h.get("name")): str(h.get("value") or "")
            for h in container.get("uploadHeaders") or []
            if isinstance(h, dict) and h.get("name")
        }
        for file, blob_name in matches:
            local = os.path.relpath(file, task_dir.resolve())
            jobs.append(_upload(http, file, _blob_url(base, query, blob_name), local, report, extra))
    await gather_limited(jobs)
    return report
