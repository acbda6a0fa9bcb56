"""``StrEnum`` for Python 3.10, in a module of its own so that enums used by operators at DAG parsing
do not pull in :mod:`airflow_azure_compute.connections`."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """``enum.StrEnum`` for Python 3.10."""

    def __str__(self) -> str:
        return str(self.value)


__all__ = ["StrEnum"]
