"""OpenLineage from the operators, read back from the OpenLineage provider's file transport.

The Blob DAG (split a local file, upload a folder, merge to a local file, clean up) and the Batch DAG
(a fan-out and its sensor, a Python map keeping its results in a manifest) run with ``dag.test()`` in a
child process whose OpenLineage transport is a file; each task's COMPLETE event must carry the
datasets it read and wrote, named as OpenLineage names Azure Blob Storage, and the Batch job it drove.
The child also reads back the run's Asset events from Airflow's database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.lineage import LineageMixin, TaskLineage, to_operator_lineage
from tests.integration._blob_helpers import unique

pytest.importorskip("airflow.providers.openlineage")
pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).resolve().parent / "dags" / "blob_split_merge_test.py"
BATCH_DAG_FILE = Path(__file__).resolve().parent / "dags" / "batch_lineage_test.py"
RUN_DAG = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("lineage_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
run = module.dag.test(run_conf=json.loads(sys.argv[2]))
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session
with create_session() as session:
    events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).all()
    found = [{"task": e.source_task_id, "uri": e.asset.uri, "extra": e.extra} for e in events]
with open(sys.argv[3], "w") as out:
    json.dump(found, out)
sys.exit(0 if run.state == "success" else 1)
"""


def _complete_events(path: Path) -> dict[str, dict[str, Any]]:
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}


def _names(datasets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in datasets}


def _run_dag(
    airflow_db: Path, dag_file: Path, conf: dict[str, Any], tmp_path: Path
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Run ``dag_file`` with ``dag.test()`` in a child process: (COMPLETE events by job, Asset events)."""
    from shutil import copy

    dag_path = airflow_db / "dags" / dag_file.name
    copy(dag_file, dag_path)
    events_file = tmp_path / "openlineage.jsonl"
    assets_file = tmp_path / "assets.json"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "azure-compute-tests",
    }
    script = tmp_path / "run_dag.py"
    script.write_text(RUN_DAG)
    done = subprocess.run(
        [sys.executable, str(script), str(dag_path), json.dumps(conf), str(assets_file)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return _complete_events(events_file), json.loads(assets_file.read_text())


def test_blob_operators_report_their_datasets(airflow_db: Path, blob_connection: str, tmp_path: Path) -> None:
    (tmp_path / "input.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(500)))
    extras = tmp_path / "extras"
    extras.mkdir()
    (extras / "params.json").write_text("{}")
    container = unique("lineage")
    conf = {
        "input": str(tmp_path / "input.csv"), "extras": str(extras), "container": container,
        "tag": "t1", "chunks": 3, "output": str(tmp_path / "merged.csv"),
    }  # fmt: skip
    events, assets = _run_dag(airflow_db, DAG_FILE, conf, tmp_path)

    blobs = f"wasbs://{container}@devstoreaccount1"
    split = events["blob_split_merge_test.split"]
    assert _names(split["inputs"]) == {("file", str(tmp_path / "input.csv"))}
    assert _names(split["outputs"]) == {(blobs, "runs/t1/chunks/")}
    upload = events["blob_split_merge_test.upload"]
    assert _names(upload["inputs"]) == {("file", str(extras / "params.json"))}
    assert _names(upload["outputs"]) == {(blobs, "runs/t1/extras/params.json")}
    merge = events["blob_split_merge_test.merge"]
    assert _names(merge["inputs"]) == {(blobs, "runs/t1/chunks/")}
    assert _names(merge["outputs"]) == {("file", str(tmp_path / "merged.csv"))}
    # Asset events (Airflow drops a URI's trailing slash); a local merged file is no asset.
    assert sorted((a["task"], a["uri"], a["extra"]) for a in assets) == [
        ("split", f"{blobs}/runs/t1/chunks", {"chunks": 3}),
        ("upload", f"{blobs}/runs/t1/extras/params.json", {}),
    ]


def test_batch_fanout_and_python_map_report_their_outputs(
    airflow_db: Path, batch_env: dict[str, Any], tmp_path: Path
) -> None:
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.hooks.blob import BlobHook

    pool = unique("lineagepool")
    events, assets = _run_dag(airflow_db, BATCH_DAG_FILE, {"pool": pool}, tmp_path)
    batch_url = BatchHook("azure_compute_batch_default").settings.endpoint

    fanout = events["batch_lineage_test.fanout"]
    job_id = fanout["run"]["facets"]["externalQuery"]["externalQueryId"]
    assert fanout["run"]["facets"]["externalQuery"]["source"] == batch_url
    ((namespace, prefix),) = _names(fanout["outputs"])
    assert namespace.startswith("wasbs://ws-batch-lineage-test-") and namespace.endswith(
        "-out@devstoreaccount1"
    )
    assert prefix == "outputs/"

    wait = events["batch_lineage_test.wait"]
    assert wait["run"]["facets"]["externalQuery"]["externalQueryId"] == job_id
    assert _names(wait["outputs"]) == {(namespace, "outputs/")}

    mapped = events["batch_lineage_test.map"]
    assert mapped["run"]["facets"]["externalQuery"]["externalQueryId"].startswith("pyjob-")
    ((map_namespace, manifest),) = _names(mapped["outputs"])
    assert (
        map_namespace == namespace and manifest.startswith("python/") and manifest.endswith("/manifest.json")
    )

    by_task = {a["task"]: a for a in assets}
    assert set(by_task) == {"wait", "map"}, assets
    assert by_task["wait"]["uri"] == f"{namespace}/outputs"  # Airflow drops a URI's trailing slash
    assert by_task["wait"]["extra"] == {"tasks": 2, "failed": 0}
    assert by_task["map"]["uri"] == f"{namespace}/{manifest}"
    assert by_task["map"]["extra"] == {"items": 3, "errors": 0}
    # The reported blobs exist: the fan-out's outputs and the map's manifest.
    blob = BlobHook("azure_compute_blob_default")
    container = namespace.removeprefix("wasbs://").split("@")[0]
    written = {b.name for b in blob.list_blobs(container, "")}
    assert manifest in written
    assert sum(name.startswith("outputs/") and name.endswith("/r.txt") for name in written) == 2


def test_an_azure_job_becomes_an_external_query_run_facet() -> None:
    class Op(LineageMixin):
        pass

    op = Op()
    op.record_lineage(external_id="job-1", source="https://acct.westeurope.batch.azure.com")
    op.record_lineage(outputs=["wasbs://out@acct/job-1/"])
    lineage = op.get_openlineage_facets_on_complete(None)
    facet = lineage.run_facets["externalQuery"]
    assert (facet.externalQueryId, facet.source) == ("job-1", "https://acct.westeurope.batch.azure.com")
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("wasbs://out@acct", "job-1/")]
    empty = to_operator_lineage(TaskLineage())
    assert (empty.inputs, empty.outputs, empty.run_facets) == ([], [], {})
