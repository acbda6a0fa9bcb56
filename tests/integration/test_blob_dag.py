"""A DAG of split -> upload -> merge -> cleanup (teardown) run with ``dag.test()`` against Azurite."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.hooks.blob import BlobHook
from tests.integration._blob_helpers import unique

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).resolve().parent / "dags" / "blob_split_merge_test.py"


def _load_dag(dags_folder: Path) -> Any:
    """Copy the DAG file into the DAGs folder (dag.test() serializes it from there) and import it."""
    target = dags_folder / DAG_FILE.name
    shutil.copy(DAG_FILE, target)
    spec = importlib.util.spec_from_file_location("blob_split_merge_test", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_split_upload_merge_cleanup_dag(airflow_db: Path, blob_connection: str, tmp_path: Path) -> None:
    dag = _load_dag(airflow_db / "dags")
    body = b"".join(f"{i},{i * i}\n".encode() for i in range(5000))
    (tmp_path / "input.csv").write_bytes(b"n,square\n" + body)
    extras = tmp_path / "extras"
    extras.mkdir()
    (extras / "params.json").write_text('{"k": 1}')
    container = unique("dagrun")
    conf = {
        "input": str(tmp_path / "input.csv"),
        "extras": str(extras),
        "container": container,
        "tag": "t1",
        "chunks": 12,
        "output": str(tmp_path / "merged.csv"),
    }
    dag_run = dag.test(run_conf=conf)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"split": "success", "upload": "success", "merge": "success", "cleanup": "success"}
    assert (tmp_path / "merged.csv").read_bytes() == b"n,square\n" + body
    assert not BlobHook(blob_connection).container_exists(container)
