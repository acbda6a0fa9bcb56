"""Durable Functions emulator: the HTTP API, running azure-functions-durable v2 apps by replay."""

from __future__ import annotations

from airflow_azure_compute.emulator.durable.service import DurableService

__all__ = ["DurableService"]
