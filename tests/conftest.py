"""Session fixtures shared by every test layer: Azurite and the emulator process, on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.testing.stack import AzuriteEndpoints

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_APPS_DIR = Path(__file__).resolve().parent / "function_apps"


@pytest.fixture(scope="session", autouse=True)
def cpu_load() -> Iterator[list[int]]:
    """``CPU_LOAD=N``: keep N busy processes spinning for the whole session (a loaded CI machine), so
    timing assumptions show up; they are stopped, by their pid, when the session ends. Off by default."""
    count = int(os.environ.get("CPU_LOAD", "0") or 0)
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(count)
    ]
    try:
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


# Azurite, the emulator, the Airflow DB and the connections come from the provider's own pytest plugin
# (airflow_azure_compute.testing.pytest_plugin, entry point pytest11), as for any user of the package.


@pytest.fixture(scope="session")
def azure_function_apps() -> list[Path]:
    """Every ``tests/function_apps/*.py`` is loaded as a Durable function app."""
    return sorted(p for p in FUNCTION_APPS_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="session")
def emulator(azure_emulator: dict[str, Any]) -> dict[str, Any]:
    """The plugin's emulator process (Batch, ACI, Durable), under the name the suite uses."""
    return azure_emulator


@contextmanager
def connection_variables(
    endpoints: Mapping[str, Any], azurite: AzuriteEndpoints
) -> Iterator[pytest.MonkeyPatch]:
    """``AIRFLOW_CONN_*`` of every service of ``endpoints`` and Azurite until the block ends; yields the
    MonkeyPatch, which undoes whatever else a caller sets through it too."""
    from airflow_azure_compute.emulator.airflow_env import connection_env

    mp = pytest.MonkeyPatch()
    for key, value in connection_env(endpoints, azurite).items():
        mp.setenv(key, value)
    try:
        yield mp
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def blob_connection(azurite: AzuriteEndpoints) -> Iterator[str]:
    """``AIRFLOW_CONN_AZURE_COMPUTE_BLOB_DEFAULT`` pointing at the session's Azurite; yields the conn id."""
    with connection_variables({}, azurite):
        yield "azure_compute_blob_default"


@pytest.fixture(scope="session")
def batch_env(emulator: dict[str, Any], azurite: AzuriteEndpoints) -> Iterator[dict[str, Any]]:
    """``AIRFLOW_CONN_AZURE_COMPUTE_{BATCH,BLOB}_DEFAULT`` for the session's emulator and Azurite."""
    with connection_variables(emulator, azurite):
        yield emulator


@pytest.fixture(scope="module")
def module_connections(emulator: dict[str, Any], azurite: AzuriteEndpoints) -> Iterator[pytest.MonkeyPatch]:
    """Every connection of the session's emulator and Azurite as ``AIRFLOW_CONN_*`` for one test module;
    yields the module's MonkeyPatch, for variables of its own that go with them."""
    with connection_variables(emulator, azurite) as mp:
        yield mp
