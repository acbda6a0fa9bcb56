"""Local Azure Container Instances: ARM ``containerGroups`` whose containers run as local processes."""

from __future__ import annotations

from airflow_azure_compute.emulator.aci.service import AciService

__all__ = ["AciService"]
