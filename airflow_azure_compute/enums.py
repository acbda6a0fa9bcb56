"""``StrEnum`` for Python 3.10, in a module of its own so that enums used by operators at DAG parsing
do not pull in `airflow_azure_compute.connections`."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

_E = TypeVar("_E", bound="StrEnum")


class StrEnum(str, Enum):
    """``enum.StrEnum`` for Python 3.10, plus `parse` for values given by users."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def parse(cls: type[_E], value: object, *, field: str) -> _E:
        """The member for ``value`` (any case); a config error naming ``field`` and the choices otherwise."""
        from airflow_azure_compute.exceptions import AzureComputeConfigError

        try:
            return cls(str(value).lower())
        except ValueError:
            raise AzureComputeConfigError(
                f"{value!r} is not one of: " + ", ".join(m.value for m in cls), field=field
            ) from None


__all__ = ["StrEnum"]
