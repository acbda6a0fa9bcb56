"""Pure checks of blob container names and blob prefixes (run before any request is sent)."""

from __future__ import annotations

import re

from airflow_azure_compute.exceptions import AzureComputeConfigError

_CONTAINER = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")


def check_container_name(name: object, *, field: str = "container") -> str:
    """Return ``name`` if it is a valid container name, else raise naming ``field``.

    Rules (Azure Storage): 3 to 63 characters; lowercase letters, digits and hyphens; starts and ends
    with a letter or digit; no two hyphens in a row.
    """
    if not isinstance(name, str) or not name:
        raise AzureComputeConfigError("a container name is required, e.g. 'run-data'", field=field)
    problem = None
    if not 3 <= len(name) <= 63:
        problem = f"is {len(name)} characters long; use 3 to 63"
    elif name != name.lower():
        problem = "has uppercase letters; container names are lowercase"
    elif not _CONTAINER.match(name):
        problem = "may hold only a-z, 0-9 and single hyphens, and must start and end with a letter or digit"
    if problem:
        raise AzureComputeConfigError(f"container name {name!r} {problem}", field=field)
    return name


def normalize_prefix(prefix: object, *, field: str = "prefix") -> str:
    """Return the prefix as ``a/b/`` (or ``""``); reject ``..``, backslashes and absolute paths."""
    if prefix is None or prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise AzureComputeConfigError(f"expected a string, got {type(prefix).__name__}", field=field)
    check_blob_path(prefix, field=field)
    return prefix.strip("/") + "/" if prefix.strip("/") else ""


def check_blob_path(path: str, *, field: str) -> str:
    """Reject blob names/prefixes that escape their prefix or would be ambiguous."""
    if "\\" in path:
        raise AzureComputeConfigError(
            f"{path!r} contains a backslash; use '/' to separate levels", field=field
        )
    if path.startswith("/"):
        raise AzureComputeConfigError(
            f"{path!r} starts with '/'; give a relative path like 'runs/1/'", field=field
        )
    if any(part in ("..", ".") for part in path.split("/")):
        raise AzureComputeConfigError(
            f"{path!r} contains '.' or '..' segments; give a plain path like 'runs/1/chunks/'", field=field
        )
    if len(path) > 1024:
        raise AzureComputeConfigError(f"{path[:40]!r}... is longer than 1024 characters", field=field)
    return path


__all__ = ["check_blob_path", "check_container_name", "normalize_prefix"]
