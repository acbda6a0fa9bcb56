"""Local emulators of Azure Batch, Container Instances and Durable Functions (one process).

Run ``python -m airflow_azure_compute.emulator --endpoints-file PATH``; see docs/emulator/index.md.
No provider module imports this package.
"""

from __future__ import annotations
