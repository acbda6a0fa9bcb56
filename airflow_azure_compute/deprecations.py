"""Arguments renamed for the provider's one connection-argument convention (``azure_conn_id``).

Every operator, sensor and hook names its connection ``azure_conn_id``, as the Amazon provider names
its ``aws_conn_id`` everywhere. The names used before (``conn_id`` on hooks and the Container Instances
and Durable operators, ``blob_conn_id`` on the Blob operators) keep working for now with an
`AirflowProviderDeprecationWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from airflow_azure_compute.exceptions import AzureComputeConfigError

try:
    from airflow.exceptions import AirflowProviderDeprecationWarning
except ImportError:  # pragma: no cover - defined by every Airflow this provider supports
    AirflowProviderDeprecationWarning = DeprecationWarning  # type: ignore[misc,assignment]

T = TypeVar("T")


def renamed_argument(kwargs: dict[str, Any], old: str, new: str, value: T, *, owner: object) -> T:
    """Take a deprecated keyword ``old`` out of ``kwargs`` in favour of ``new`` (whose value is ``value``).

    Warns when ``old`` is used; refuses both names given with different values, since the caller
    could not tell which one wins.
    """
    if old not in kwargs:
        return value
    old_value = kwargs.pop(old)
    name = getattr(owner, "__name__", type(owner).__name__)
    if value is not None and old_value is not None and value != old_value:
        raise AzureComputeConfigError(
            f"{name} got both {old}={old_value!r} and {new}={value!r}; pass only {new}", field=new
        )
    warnings.warn(
        f"{name}: the argument {old!r} is deprecated; use {new!r} (the provider's one name for a connection)",
        AirflowProviderDeprecationWarning,
        stacklevel=3,
    )
    return old_value if old_value is not None else value


__all__ = ["AirflowProviderDeprecationWarning", "renamed_argument"]
