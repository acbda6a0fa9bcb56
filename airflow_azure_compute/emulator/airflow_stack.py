"""Moved to `airflow_azure_compute.testing.airflow_stack`; this name stays importable for now."""

from __future__ import annotations

from airflow_azure_compute.testing.airflow_stack import (
    COMPONENTS,
    FINISHED_RUN_STATES,
    HOST,
    AirflowStack,
    AirflowStackError,
    airflow_env,
    free_port,
    link_dags_folder,
    run_airflow,
    stop_groups,
)

__all__ = [
    "COMPONENTS",
    "FINISHED_RUN_STATES",
    "HOST",
    "AirflowStack",
    "AirflowStackError",
    "airflow_env",
    "free_port",
    "link_dags_folder",
    "run_airflow",
    "stop_groups",
]
