"""The services the emulator process serves, in start order (each gets its own port)."""

from __future__ import annotations

from airflow_azure_compute.emulator.aci import AciService
from airflow_azure_compute.emulator.batch.service import BatchService
from airflow_azure_compute.emulator.core import EmulatorService
from airflow_azure_compute.emulator.durable import DurableService
from airflow_azure_compute.emulator.storage_proxy import StorageProxyService

SERVICES: list[type[EmulatorService]] = [BatchService, AciService, DurableService, StorageProxyService]
