"""Session fixtures shared by every test layer: Azurite and the emulator process, on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.emulator.stack import AzuriteEndpoints, run_azurite, run_emulator

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


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    """A live Azurite (blob, queue, table) for the whole session."""
    with run_azurite() as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def emulator(azurite: AzuriteEndpoints) -> Iterator[dict[str, Any]]:
    """The emulator process (Batch, ACI, Durable, and the storage fault proxy in front of Azurite);
    yields its endpoints file.

    Every ``tests/function_apps/*.py`` is loaded as a Durable function app.
    """
    apps = sorted(p for p in FUNCTION_APPS_DIR.glob("*.py") if not p.name.startswith("_"))
    with run_emulator(function_apps=apps, storage_upstream=azurite.blob_url) as endpoints:
        yield endpoints


def _airflow_executable() -> list[str]:
    return [sys.executable, "-m", "airflow"]


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated SQLite Airflow DB in a temporary AIRFLOW_HOME, for ``dag.test()`` in this process.

    Sets AIRFLOW_HOME, LOAD_EXAMPLES=False, UNIT_TEST_MODE=True and the DB URL for the session, runs
    ``airflow db migrate`` once, and re-points Airflow's ORM (already imported by test collection) at
    the new DB. Yields the home directory.
    """
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    done = subprocess.run(
        [*_airflow_executable(), "db", "migrate"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        mp.undo()
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    from airflow import settings

    settings.dispose_orm(do_log=False)
    settings.configure_vars()
    settings.configure_orm()
    try:
        yield home
    finally:
        settings.dispose_orm(do_log=False)
        mp.undo()


@pytest.fixture(scope="session")
def blob_connection(azurite: AzuriteEndpoints) -> Iterator[str]:
    """``AIRFLOW_CONN_AZURE_COMPUTE_BLOB_DEFAULT`` pointing at the session's Azurite; yields the conn id."""
    from airflow_azure_compute.emulator.airflow_env import connection_env

    mp = pytest.MonkeyPatch()
    for key, value in connection_env({}, azurite).items():
        mp.setenv(key, value)
    try:
        yield "azure_compute_blob_default"
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def batch_env(emulator: dict[str, Any], azurite: AzuriteEndpoints) -> Iterator[dict[str, Any]]:
    """``AIRFLOW_CONN_AZURE_COMPUTE_{BATCH,BLOB}_DEFAULT`` for the session's emulator and Azurite."""
    from airflow_azure_compute.emulator.airflow_env import connection_env

    mp = pytest.MonkeyPatch()
    for key, value in connection_env(emulator, azurite).items():
        mp.setenv(key, value)
    try:
        yield emulator
    finally:
        mp.undo()
