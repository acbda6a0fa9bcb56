"""Session fixtures shared by every test layer: Azurite and the emulator process, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.emulator.stack import AzuriteEndpoints, run_azurite, run_emulator

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_APPS_DIR = Path(__file__).resolve().parent / "function_apps"


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    """A live Azurite (blob, queue, table) for the whole session."""
    with run_azurite() as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def emulator(azurite: AzuriteEndpoints) -> Iterator[dict[str, Any]]:
    """The emulator process (Batch, and ACI / Durable once present); yields its endpoints file.

    Every ``tests/function_apps/*.py`` is loaded as a Durable function app.
    """
    apps = sorted(p for p in FUNCTION_APPS_DIR.glob("*.py") if not p.name.startswith("_"))
    with run_emulator(function_apps=apps) as endpoints:
        yield endpoints
