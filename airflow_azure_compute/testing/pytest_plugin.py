"""pytest fixtures that run your DAGs against local Azure: Azurite and this provider's emulators.

Installed with the package and registered through the ``pytest11`` entry point, so the fixtures are
available in any test suite of a project that installs ``airflow-azure-compute[emulator]`` (Azurite
itself comes from npm: ``npm install azurite``, or set ``$AZURITE_BIN``). Nothing starts until a test
asks for a fixture; every server binds 127.0.0.1 on a free port and is stopped by its fixture.

Fixtures (all but ``run_dag`` are session-scoped):

- ``azurite``: a running Azurite; ``AzuriteEndpoints`` (blob URL, account, key, connection string).
- ``azure_function_apps``: Durable function apps (paths of ``function_app.py`` files) the emulator
  serves; override it in your ``conftest.py``. Default: none.
- ``azure_emulator``: the Batch, Container Instances and Durable Functions emulators in one process
  (Batch tasks and containers run as local processes); its endpoints as a dict.
- ``azure_connections``: sets ``AIRFLOW_CONN_AZURE_COMPUTE_{BLOB,BATCH,ACI,DURABLE}_DEFAULT`` for the
  session, pointing at the two above; returns ``{conn_id: connection dict}``.
- ``airflow_db``: a migrated SQLite metadata DB in a temporary ``AIRFLOW_HOME`` (for ``dag.test()``).
- ``run_dag``: ``run_dag(dag, conf=None) -> DagRun``: runs a DAG with ``dag.test()`` with all of the
  above in place.

Example::

    def test_my_pipeline(run_dag):
        from my_project.dags.pipeline import dag

        run = run_dag(dag, conf={"records": 100})
        assert run.state == "success"
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_azure_compute.testing.stack import AzuriteEndpoints


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    """A live Azurite (blob, queue, table) on 127.0.0.1 for the whole session."""
    from airflow_azure_compute.testing.stack import run_azurite

    with run_azurite() as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def azure_function_apps() -> list[Path]:
    """Durable function apps the emulator loads; override in your conftest.py."""
    return []


@pytest.fixture(scope="session")
def azure_emulator(azurite: AzuriteEndpoints, azure_function_apps: list[Path]) -> Iterator[dict[str, Any]]:
    """The emulator process (Batch, Container Instances, Durable Functions, and the storage fault proxy
    in front of Azurite, which the Blob connection goes through); yields its endpoints.

    Function apps read their storage from ``AzureWebJobsStorage`` (the session's Azurite), as on Azure.
    """
    from airflow_azure_compute.testing.stack import run_emulator

    with run_emulator(
        function_apps=azure_function_apps,
        env={"AzureWebJobsStorage": azurite.connection_string},
        storage_upstream=azurite.blob_url,
    ) as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def azure_connections(
    azure_emulator: dict[str, Any], azurite: AzuriteEndpoints
) -> Iterator[dict[str, dict[str, Any]]]:
    """The four default connections of this provider as ``AIRFLOW_CONN_*`` variables, for the session."""
    import json

    from airflow_azure_compute.emulator.airflow_env import connections, env_name

    conns = connections(azure_emulator, azurite)
    mp = pytest.MonkeyPatch()
    for conn_id, conn in conns.items():
        mp.setenv(env_name(conn_id), json.dumps(conn))
    try:
        yield conns
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated SQLite Airflow DB in a temporary AIRFLOW_HOME, for ``dag.test()`` in this process.

    Sets AIRFLOW_HOME, LOAD_EXAMPLES=False, UNIT_TEST_MODE=True and the DB URL for the session, runs
    ``airflow db migrate`` once, and re-points Airflow's ORM (possibly already imported) at the new DB.
    Yields the home directory (its ``dags`` folder is the DAGs folder).
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
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
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


@pytest.fixture
def run_dag(airflow_db: Path, azure_connections: Mapping[str, Any]) -> Callable[..., Any]:
    """``run_dag(dag, conf=None, **kwargs)``: ``dag.test(run_conf=conf, **kwargs)`` against the local stack.

    The DAG's file is linked into the DAGs folder of ``airflow_db`` first (``dag.test()`` serializes the
    DAG from there), so a DAG can live anywhere in your project.
    """

    def run(dag: Any, conf: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        # dag.test() serializes the DAG from the DAGs folder: link the DAG's file into it.
        source = Path(dag.fileloc).resolve()
        link = airflow_db / "dags" / source.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source)
        return dag.test(run_conf=dict(conf or {}), **kwargs)

    return run


__all__ = ["airflow_db", "azure_connections", "azure_emulator", "azure_function_apps", "azurite", "run_dag"]
