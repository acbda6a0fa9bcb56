"""Mapped operators and sensor under ``dag.test()`` against the emulator and Azurite."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "example_dags"


def test_every_operator_maps_and_cleanup_finds_every_map_index(
    airflow_db: Path, batch_env: dict[str, Any]
) -> None:
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.hooks.blob import BlobHook

    dags = airflow_db / "dags"
    shutil.copy(HERE / "dags" / "mapped_workspace.py", dags / "mapped_workspace.py")
    shutil.copytree(EXAMPLES / "batch_programs", dags / "batch_programs", dirs_exist_ok=True)
    spec = importlib.util.spec_from_file_location("mapped_workspace", dags / "mapped_workspace.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    dr = module.dag.test(run_conf={"pool_id": "e2e-mapped", "python": sys.executable})
    tis = {(ti.task_id, ti.map_index): ti for ti in dr.get_task_instances()}
    assert dr.state == "success", {k: ti.state for k, ti in tis.items()}
    for task_id in ("split", "fanout", "wait", "merge", "merge_kwargs"):
        assert {k[1] for k in tis if k[0] == task_id} == {0, 1}, task_id

    def xcom(task_id: str, map_index: int = -1) -> Any:
        return tis[(task_id, map_index)].xcom_pull(task_ids=task_id, map_indexes=map_index)

    assert xcom("totals") == [len(module.lines_of(0)), len(module.lines_of(1))]
    splits = [xcom("split", i) for i in range(2)]
    assert [s["prefix"] for s in splits] == ["chunks/0/", "chunks/1/"]
    fanouts = [xcom("fanout", i) for i in range(2)]
    assert fanouts[0]["job_id"] != fanouts[1]["job_id"]
    shards = [xcom("merge_kwargs", i)["content"] for i in range(2)]
    assert [len(s) for s in shards] == [3, 3]
    cleanup = xcom("cleanup")
    workspace = fanouts[0]["workspace"]
    assert {f"job:{f['job_id']}" for f in fanouts} <= set(cleanup["deleted"])  # both map indexes
    assert f"container:{workspace['container']}" in cleanup["deleted"]
    assert not BlobHook().container_exists(workspace["output_container"])
    for f in fanouts:
        job = BatchHook().get_job(f["job_id"])
        assert job is None or job.get("state") == "deleting"
