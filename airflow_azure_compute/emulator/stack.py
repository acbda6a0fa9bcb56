"""Moved to `airflow_azure_compute.testing.stack`; this name stays importable for now."""

from __future__ import annotations

from airflow_azure_compute.testing.stack import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    AzuriteEndpoints,
    find_azurite,
    run_azurite,
    run_emulator,
)

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "AzuriteEndpoints",
    "find_azurite",
    "run_azurite",
    "run_emulator",
]
