"""The Batch example DAGs, each run with ``dag.test()`` against the emulator and Azurite."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.examples import EXAMPLES, load, run, xcom
from tests.integration._batch_env import admin, set_faults

pytestmark = pytest.mark.integration


@pytest.fixture
def dags(airflow_db: Path, batch_env: dict[str, Any]) -> Path:
    """The DAGs folder of the test Airflow, with connections to the emulator and Azurite set."""
    return airflow_db / "dags"


def test_split_fanout_merge(dags: Path) -> None:
    from airflow_azure_compute.hooks.batch import BatchHook

    module = load("batch_split_fanout_merge", dags)
    pool_id = "e2e-split-fanout"
    dr = run(
        module.dag, {"records": 3000, "chunks": 6, "seed": 7, "pool_id": pool_id, "python": sys.executable}
    )
    fanout = xcom(dr, "fanout")
    assert fanout["task_count"] == 6
    assert xcom(dr, "check") == module.expected_stats(3000, 7)
    cleanup = xcom(dr, "cleanup")
    assert f"pool:{pool_id}" in cleanup["deleted"] and f"job:{fanout['job_id']}" in cleanup["deleted"]
    pool = BatchHook().get_pool(pool_id)
    assert pool is None or pool.get("state") == "deleting"


def test_count_words_the_readme_dag(dags: Path) -> None:
    """The README's DAG runs as it stands; its workspace is gone after the run, the pool it created is
    kept (the run did not ask to delete it)."""
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.hooks.blob import BlobHook

    module = load("count_words", dags)
    pool_id = "e2e-count-words"
    dr = run(module.count_words(), {"pool_id": pool_id, "python": sys.executable, "chunks": 5})
    text = (EXAMPLES / "batch_programs" / "words.txt").read_text()
    assert xcom(dr, "total") == {"lines": len(text.splitlines()), "words": len(text.split())}
    merged = xcom(dr, "merge")
    assert len(merged["content"]) == 5 and merged["shards"] == 5
    fanout = xcom(dr, "fanout")
    workspace = fanout["workspace"]
    assert fanout["output_container"] == workspace["output_container"]
    cleanup = xcom(dr, "cleanup")
    assert f"job:{fanout['job_id']}" in cleanup["deleted"]
    assert {f"container:{c}" for c in (workspace["container"], workspace["output_container"])} <= set(
        cleanup["deleted"]
    )
    assert not BlobHook().container_exists(workspace["container"])
    hook = BatchHook()
    assert hook.get_pool(pool_id) is not None
    hook.delete_pool(pool_id)


def test_manifest_workflow_on_an_existing_pool(dags: Path) -> None:
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.specs import PoolSpec

    module = load("batch_manifest_workflow", dags)
    pool_id = "e2e-shared-workflow"
    hook = BatchHook()
    hook.create_pool(PoolSpec.coerce(module.pool_shape(pool_id)).to_wire())  # created outside this run
    dr = run(module.dag, {"pool_id": pool_id, "start": 4, "python": sys.executable})
    assert xcom(dr, "final_result")["value"] == module.expected_chain(4)
    steps = xcom(dr, "steps")
    assert steps["task_count"] == 3 and steps["owns_job"] is True
    cleanup = xcom(dr, "cleanup")
    assert f"pool:{pool_id}" in cleanup["kept"]  # reused, not created by the run: kept
    assert hook.get_pool(pool_id) is not None
    hook.delete_pool(pool_id)


def test_python_map(dags: Path) -> None:
    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.workspace import RunWorkspace

    module = load("python_map", dags)
    values = [0, 4, 7, 10, 1, 2, 3]
    dr = run(module.dag, {"values": values, "pool_id": "e2e-python-map", "python": sys.executable})
    mapped = xcom(dr, "map")
    assert xcom(dr, "collect") == [module.work(v) for v in values]
    assert mapped["count"] == len(values) and mapped["error_count"] == 0
    cleanup = xcom(dr, "cleanup")
    assert "pool:e2e-python-map" in cleanup["deleted"]
    for container in RunWorkspace.for_run(module.dag.dag_id, dr.run_id).containers:  # went with the teardown
        assert f"container:{container}" in cleanup["deleted"]
        assert not BlobHook().container_exists(container)


def test_python_workflow_steps_pass_their_values(dags: Path) -> None:
    module = load("python_workflow", dags)
    dr = run(module.dag, {"pool_id": "e2e-python-workflow", "start": 4, "python": sys.executable})
    want = module.expected_chain(4)
    assert xcom(dr, "check") == want
    assert [xcom(dr, f"step_{n}") for n in (1, 2, 3)] == [13, 41, want]
    variants = [ti for ti in dr.get_task_instances() if ti.task_id == "variant"]
    assert sorted(ti.map_index for ti in variants) == [0, 1, 2]  # .expand(): one Batch task each
    assert "pool:e2e-python-workflow" in xcom(dr, "cleanup")["deleted"]


def test_manifest_workflow_rides_through_ten_percent_503(dags: Path, batch_env: dict[str, Any]) -> None:
    """10 % of Batch requests answered 503 (Retry-After: 1): the run still succeeds."""
    module = load("batch_manifest_workflow", dags)
    admin(batch_env, "counters/reset", {}, method="POST")
    set_faults(batch_env, error_rate=0.10, seed=11)
    try:
        dr = run(module.dag, {"pool_id": "e2e-faulty-workflow", "start": 2, "python": sys.executable})
        faults = admin(batch_env, "counters")["faults_injected"]
    finally:
        set_faults(batch_env)
    assert xcom(dr, "final_result")["value"] == module.expected_chain(2)
    assert sum(faults.values()) > 0  # faults were really injected


def test_hpc_mpi_on_a_schedule(dags: Path) -> None:
    """Seed 001: HPC pool + start task, a real MPI run over 3 nodes, result in the run workspace, teardown."""
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.hooks.blob import BlobHook

    module = load("batch_hpc_mpi", dags)
    assert module.dag.schedule == "@daily"
    dr = run(module.dag, {"nodes": 3, "n": 20000})
    result = xcom(dr, "check")
    assert result["sum_of_squares"] == module.expected_sum_of_squares(20000)
    assert result["world_size"] == 3
    mpi = xcom(dr, "mpi")
    ws = xcom(dr, "workspace")
    assert mpi["output_container"] == ws["output_container"]
    cleanup = xcom(dr, "cleanup")
    assert f"pool:{ws['pool_id']}" in cleanup["deleted"] and f"job:{mpi['job_id']}" in cleanup["deleted"]
    assert f"container:{ws['output_container']}" in cleanup["deleted"]
    pool = BatchHook().get_pool(ws["pool_id"])
    assert pool is None or pool.get("state") == "deleting"
    assert not BlobHook().container_exists(ws["output_container"])
