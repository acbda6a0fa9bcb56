"""Helpers for the Blob integration tests: a minimal task-instance context and unique names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeTI:
    """The few task-instance attributes the Blob operators read (ids and xcom_push)."""

    dag_id: str = "blob_dag"
    run_id: str = "manual__2026-11-22T00:00:00+00:00"
    task_id: str = "task"
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context(**ti: Any) -> Any:
    """A context dict with a :class:`FakeTI` (typed ``Any``: operators expect an Airflow ``Context``)."""
    return {"ti": FakeTI(**ti)}


def unique(stem: str) -> str:
    """A fresh container name (lowercase, 3-63 characters)."""
    return f"{stem}-{uuid.uuid4().hex[:10]}"
