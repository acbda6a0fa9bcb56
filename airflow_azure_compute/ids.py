"""Deterministic resource ids and run metadata.

Ids derive from dag, run, task and map index, never the try number, so a retried task finds the pool,
job, tasks, container group or orchestration its earlier try created instead of creating a twin.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")

#: Metadata keys (Batch metadata, blob container metadata, ACI tags) that mark what a run created.
DAG_KEY = "airflow_dag_id"
RUN_KEY = "airflow_run_id"
TASK_KEY = "airflow_task_id"


def derive_id(kind: str, *parts: object, max_len: int = 64, lower: bool = False) -> str:
    """Return ``{kind}-{readable stem}-{12 hex digest}``, at most ``max_len`` characters.

    The digest covers every part, so two runs never share an id; the stem keeps the first part
    readable. Characters outside ``[A-Za-z0-9-]`` become ``-``.

    :param kind: short prefix naming the resource kind, e.g. ``"job"`` or ``"cg"``.
    :param parts: what identifies the resource, usually ``run_scope(context)``.
    :param max_len: the service's id length limit (64 for Batch, 63 for ACI names).
    :param lower: lowercase the result (ACI names, blob containers).
    """
    digest = hashlib.sha256("\x1f".join(map(str, (kind, *parts))).encode()).hexdigest()[:12]
    first = parts[0] if parts else ""
    stem = _UNSAFE.sub("-", f"{kind}-{first}").strip("-")[: max(1, max_len - 13)].rstrip("-")
    out = f"{stem}-{digest}"
    return out.lower() if lower else out


def run_prefix(kind: str, dag_id: str, run_id: str, *, stem_len: int = 40) -> str:
    """``{kind}-{dag stem}-{8 hex of dag and run}-``: the prefix shared by every id of one DAG run.

    Services that list by prefix (Durable ``instanceIdPrefix``) find all a run created with it.
    """
    digest = hashlib.sha256("\x1f".join((kind, dag_id, run_id)).encode()).hexdigest()[:8]
    stem = _UNSAFE.sub("-", f"{kind}-{dag_id}").strip("-")[:stem_len].rstrip("-")
    return f"{stem}-{digest}-"


def derive_run_id(kind: str, dag_id: str, run_id: str, *parts: object) -> str:
    """`run_prefix` followed by a 12 hex digest of ``parts`` (task id, map index)."""
    digest = hashlib.sha256("\x1f".join(map(str, (kind, dag_id, run_id, *parts))).encode()).hexdigest()[:12]
    return run_prefix(kind, dag_id, run_id) + digest


def run_scope(context: Mapping[str, Any]) -> tuple[str, str, str, int]:
    """``(dag_id, run_id, task_id, map_index)`` of the running task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", None)
    return ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else int(map_index)


def run_metadata(context: Mapping[str, Any]) -> dict[str, str]:
    """Metadata naming the dag, run and task, attached to everything a run creates."""
    dag_id, run_id, task_id, _ = run_scope(context)
    return {DAG_KEY: dag_id, RUN_KEY: run_id, TASK_KEY: task_id}


def created_by_run(metadata: Mapping[str, str] | None, dag_id: str, run_id: str) -> bool:
    """Whether ``metadata`` says the resource was created by this dag run (what cleanup may delete)."""
    md = {k.lower(): v for k, v in (metadata or {}).items()}
    return md.get(DAG_KEY) == dag_id and md.get(RUN_KEY) == run_id


__all__ = [
    "DAG_KEY",
    "RUN_KEY",
    "TASK_KEY",
    "created_by_run",
    "derive_id",
    "derive_run_id",
    "run_metadata",
    "run_prefix",
    "run_scope",
]
