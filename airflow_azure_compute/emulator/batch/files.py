"""The files API shared by tasks and nodes: listings, properties headers, ranges."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from airflow_azure_compute.emulator.batch.http_common import page
from airflow_azure_compute.emulator.batch.wire import BatchError, http_date


def list_files(request: web.Request, runner: Any, root: Path | None, base_url: str) -> web.Response:
    """A page of ``{name, url, isDirectory, properties}`` under ``root`` (``recursive`` query flag)."""
    recursive = request.query.get("recursive", "false").lower() == "true"
    entries: list[dict[str, Any]] = []
    if root is not None:
        entries = runner.list_task_files(root, recursive=recursive, name_prefix=None)
    for entry in entries:
        entry["url"] = f"{base_url}/files/{quote(entry['name'], safe='/')}"
    return page(request, entries)


def resolve(runner: Any, root: Path, relative: str) -> Path:
    """The file at ``relative`` under ``root``; 404 ``FileNotFound`` when missing or outside."""
    try:
        return Path(runner.resolve_task_file(root, relative))
    except (FileNotFoundError, ValueError) as exc:
        raise BatchError(404, "FileNotFound", f"The specified file {relative} does not exist.") from exc


def delete_file(request: web.Request, path: Path, root: Path) -> web.Response:
    """DELETE of a task or node file (200); a directory needs ``recursive=true`` unless empty."""
    if path.resolve() == root.resolve():
        raise BatchError(400, "InvalidFilePath", "The working directory itself cannot be deleted.")
    if path.is_dir():
        recursive = request.query.get("recursive", "false").lower() == "true"
        if any(path.iterdir()) and not recursive:
            raise BatchError(
                409, "DirectoryNotEmpty", f"The directory {path.name} is not empty: pass recursive=true."
            )
        shutil.rmtree(path)
    else:
        path.unlink()
    return web.Response(status=200)


def file_response(request: web.Request, path: Path, url: str, *, head: bool) -> web.Response:
    """GET/HEAD answer: content (``ocp-range`` honoured) and the ``ocp-batch-file-*`` headers."""
    st = path.stat()
    is_dir = path.is_dir()
    headers = {
        "Last-Modified": http_date(datetime.fromtimestamp(st.st_mtime).astimezone()),
        "ocp-creation-time": http_date(datetime.fromtimestamp(min(st.st_ctime, st.st_mtime)).astimezone()),
        "ocp-batch-file-isdirectory": "true" if is_dir else "false",
        "ocp-batch-file-url": url,
        "ocp-batch-file-mode": f"0{st.st_mode:o}",
        "Content-Type": "application/octet-stream",
        "ETag": f'"0x{int(st.st_mtime_ns):X}"',
    }
    if head:
        headers["Content-Length"] = str(0 if is_dir else st.st_size)
        return web.Response(status=200, headers=headers)
    data = b"" if is_dir else path.read_bytes()
    wanted = request.headers.get("ocp-range")
    if wanted:
        data = slice_range(data, wanted)
    return web.Response(status=200, body=data, headers=headers)


def slice_range(data: bytes, header: str) -> bytes:
    """``bytes=a-b`` (inclusive), ``bytes=a-`` or ``bytes=-n`` of ``data``."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or not (match[1] or match[2]):
        raise BatchError(
            400, "InvalidHeaderValue", f"Invalid ocp-range {header!r}.", {"HeaderName": "ocp-range"}
        )
    if match[1]:
        start = int(match[1])
        end = int(match[2]) if match[2] else len(data) - 1
    else:
        start, end = max(0, len(data) - int(match[2])), len(data) - 1
    if start >= len(data) and data:
        raise BatchError(416, "InvalidRange", f"The range {header!r} is not satisfiable.")
    return data[start : end + 1]
