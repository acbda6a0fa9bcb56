"""Node and task directories as on a Batch Linux node, path safety, and the task files listing.

Layout under a node root (``AZ_BATCH_NODE_ROOT_DIR``)::

    shared/  startup/  fsmounts/  workitems/{job}/job-1/{task}/{stdout.txt,stderr.txt,wd/}

The start task's directory is ``startup/``; job preparation and release tasks live beside the job's
tasks, in ``workitems/{job}/job-1/{id}`` (their ids default to ``jobpreparation`` / ``jobrelease``).
"""

from __future__ import annotations

import mimetypes
import os
import stat
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

NODE_SUBDIRS = ("shared", "startup", "fsmounts", "workitems")
TASK_KINDS = ("task", "start", "jobprep", "jobrelease")
_DEFAULT_IDS = {"jobprep": "jobpreparation", "jobrelease": "jobrelease"}


def task_dir_for(node_root: Path, job_id: str | None, task_id: str, kind: str) -> Path:
    """The task directory (``AZ_BATCH_TASK_DIR``) of a task of ``kind`` on the node at ``node_root``."""
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}; expected one of {', '.join(TASK_KINDS)}")
    if kind == "start":
        return node_root / "startup"
    if not job_id:
        raise ValueError(f"a {kind} task needs a job id")
    name = task_id or _DEFAULT_IDS.get(kind, "")
    if not name or name in (".", "..") or "/" in name or "/" in job_id or job_id in (".", ".."):
        raise ValueError(f"invalid job or task id for a task directory: {job_id!r}/{task_id!r}")
    return node_root / "workitems" / job_id / "job-1" / name


def ensure_node_dirs(node_root: Path) -> None:
    """Create the node's standard directories (idempotent)."""
    for name in NODE_SUBDIRS:
        (node_root / name).mkdir(parents=True, exist_ok=True)


def safe_join(base: Path, relative: str) -> Path:
    """``base / relative``, refusing absolute paths and paths that leave ``base`` (``..``, symlinks)."""
    if relative.startswith(("/", "\\")) or PurePosixPath(relative).is_absolute():
        raise ValueError(f"path {relative!r} must be relative")
    root = base.resolve()
    target = (root / relative).resolve()
    if target != root and not target.is_relative_to(root):
        raise ValueError(f"path {relative!r} escapes its directory")
    return target


def resolve_task_file(task_dir: Path, relative_path: str) -> Path:
    """The file or directory at ``relative_path`` ('/'-separated) inside ``task_dir``.

    Raises ``ValueError`` when the path escapes the task directory and ``FileNotFoundError`` when
    nothing is there. Directories are returned too: callers check ``.is_dir()``.
    """
    target = safe_join(task_dir, relative_path.strip("/") or ".")
    if not target.exists():
        raise FileNotFoundError(relative_path)
    return target


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def file_properties(path: Path) -> dict[str, Any]:
    """The ``properties`` object of a task file (also what the files API puts in its headers)."""
    st = path.stat()
    is_dir = stat.S_ISDIR(st.st_mode)
    created = getattr(st, "st_birthtime", None) or min(st.st_ctime, st.st_mtime)
    content_type = "application/octet-stream"
    if not is_dir:
        content_type = mimetypes.guess_type(path.name)[0] or content_type
    return {
        "creationTime": _iso(created),
        "lastModified": _iso(st.st_mtime),
        "contentLength": str(0 if is_dir else st.st_size),  # a string on the wire, as Batch sends it
        "contentType": content_type,
        "fileMode": f"0{st.st_mode:o}",
    }


def list_task_files(task_dir: Path, *, recursive: bool, name_prefix: str | None) -> list[dict[str, Any]]:
    """Wire JSON entries for the task files API, sorted by name; names are relative with '/'."""
    if not task_dir.is_dir():
        return []
    found: list[tuple[str, Path]] = []
    if recursive:
        for folder, dirs, files in os.walk(task_dir):
            dirs.sort()
            for name in [*dirs, *files]:
                path = Path(folder) / name
                found.append((path.relative_to(task_dir).as_posix(), path))
    else:
        found = [(path.name, path) for path in task_dir.iterdir()]
    entries = []
    for name, path in sorted(found):
        if name_prefix and not name.startswith(name_prefix):
            continue
        try:
            properties = file_properties(path)
        except FileNotFoundError:  # removed while listing
            continue
        entries.append({"name": name, "isDirectory": path.is_dir(), "properties": properties})
    return entries
