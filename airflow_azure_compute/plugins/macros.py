"""The provider's Airflow plugin: template macros.

It is registered as an ``airflow.plugins`` entry point (``pyproject.toml``), which every Airflow
component loads whatever ``[core] lazy_discover_providers`` says (plugins listed in a provider's
metadata are loaded only when provider discovery is eager). Airflow attaches each plugin's ``macros`` under ``macros.<plugin name>``
in every template, so a DAG can name the run's workspace anywhere a template is rendered::

    BashOperator(
        task_id="list",
        bash_command="az storage blob list -c {{ macros.azure_compute.workspace(ti).container }}",
    )

``workspace(ti)`` is the run's `RunWorkspace` (``container``,
``output_container``, ``prefix``, ``path(...)``); ``workspace(ti, "shared")`` the run's prefix inside a
named container. The same object is what the Blob and Batch operators use when given no container.
"""

from __future__ import annotations

from typing import Any

try:  # Airflow >= 3.1: the Task SDK's plugin base
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[no-redef,assignment]

from airflow_azure_compute.workspace import RunWorkspace


def workspace(ti: Any, container: str | None = None) -> RunWorkspace:
    """The workspace of the task instance's DAG run (``{{ macros.azure_compute.workspace(ti) }}``)."""
    return RunWorkspace.for_ti(ti, container=container)


class AzureComputePlugin(AirflowPlugin):
    """Registers `workspace` as ``macros.azure_compute.workspace``."""

    name = "azure_compute"
    macros = [workspace]


__all__ = ["AzureComputePlugin", "workspace"]
