"""The user test kit, used as a user would: a project of its own with a DAG and a test that asks for
``run_dag``. It runs in a child pytest that loads the plugin from the installed entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_azure_compute.testing.stack import find_azurite

pytestmark = pytest.mark.integration

USER_DAG = """
from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator

with DAG(dag_id="user_pipeline", schedule=None, render_template_as_native_obj=True) as dag:
    split = BlobSplitOperator(
        task_id="split", source_path="{{ dag_run.conf['input'] }}", container="user-data",
        prefix="chunks/", chunk_count=3,
    )
    merge = BlobMergeOperator(
        task_id="merge", container="user-data", manifest=split.output, output_path="{{ dag_run.conf['output'] }}",
    )

    @task
    def count_chunks() -> int:
        return len(list(BlobHook().container("user-data").list_blob_names(name_starts_with="chunks/part-")))

    split >> merge >> count_chunks()
"""

USER_TEST = """
from pathlib import Path

from pipeline import dag


def test_pipeline_round_trips(run_dag, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("".join(f"row {i}\\n" for i in range(30)))
    run = run_dag(dag, conf={"input": str(source), "output": str(tmp_path / "out.txt")})
    assert run.state == "success"
    assert (tmp_path / "out.txt").read_text() == source.read_text()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"split": "success", "merge": "success", "count_chunks": "success"}


def test_connections_point_at_the_local_stack(azure_connections, azurite, azure_emulator) -> None:
    # Blob traffic goes through the emulator's Storage fault proxy, in front of Azurite.
    assert azure_connections["azure_compute_blob_default"]["host"] == azure_emulator["storage"]["blob_url"]
    assert azure_emulator["storage"]["upstream"] in azurite.blob_url
    assert azure_connections["azure_compute_batch_default"]["host"] == azure_emulator["batch"]["url"]
"""


def test_a_users_project_runs_its_dag_with_the_fixtures(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pipeline.py").write_text(USER_DAG)
    (project / "test_pipeline.py").write_text(USER_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_"))}
    env["AZURITE_BIN"] = find_azurite(Path(__file__))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout, done.stdout[-2000:]
