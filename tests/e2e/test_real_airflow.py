"""End to end on real Airflow components: api-server, scheduler, dag-processor and triggerer.

One stack (SQLite, LocalExecutor, all on 127.0.0.1) serves the module. DAGs are triggered through
the REST API with a run config, exactly as from the UI's "Trigger DAG", and must succeed: proof that
the deferrable tasks' triggers load and fire in the triggerer process.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.emulator.airflow_stack import HOST, AirflowStack, link_dags_folder, run_airflow
from airflow_azure_compute.emulator.stack import AzuriteEndpoints, run_emulator

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

E2E_DAGS = Path(__file__).resolve().parent / "dags"
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
EXAMPLE = "batch_split_fanout_merge"
#: Emulated node boot time: the pool operator defers. Long enough that the scheduler has processed the
#: deferring process's exit before the trigger fires (Airflow 3.3.2 fails a resume queued before that).
NODE_BOOT_S = 8


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: ``make airflow``'s helpers: the example connections and the run configs it prints for the UI.
AIRFLOW_UI = _load("airflow_ui_script", REPO_ROOT / "scripts" / "airflow_ui.py")
OTHER_EXAMPLES = ["batch_manifest_workflow", "python_map", "durable_aci_pipeline"]
SCHEDULED = "count_words"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, azurite: AzuriteEndpoints) -> Iterator[AirflowStack]:
    """The stack over our harness DAG and the four examples, with the connections ``make airflow`` uses."""
    dag_files = [E2E_DAGS / "triggerer_roundtrip.py"] + [
        EXAMPLE_DAGS / f"{name}.py" for name in [EXAMPLE, *OTHER_EXAMPLES, SCHEDULED]
    ]
    dags = link_dags_folder(tmp_path_factory.mktemp("dags"), dag_files, EXAMPLE_DAGS)
    # Our own emulator whose nodes take seconds to boot, so that the pool operator defers and the
    # provider's BatchPoolReadyTrigger has to run in the triggerer process; it also serves the seed 004
    # function app, which reads its storage from AzureWebJobsStorage as on Azure.
    with (
        run_emulator(
            function_apps=sorted(EXAMPLE_DAGS.glob("**/function_app.py")),
            env={"AzureWebJobsStorage": azurite.connection_string},
            extra_args=["--batch-node-boot-s", str(NODE_BOOT_S)],
        ) as emulator,
        run_airflow(
            dags, AIRFLOW_UI.example_connections(emulator, azurite), home=tmp_path_factory.mktemp("home")
        ) as stack,
        pytest.MonkeyPatch.context() as env,
    ):
        # The same connections in this process, so that tests can look at what the runs left behind.
        for name, value in AIRFLOW_UI.example_connections(emulator, azurite).items():
            env.setenv(name, value)
        yield stack


def test_every_component_listens_on_loopback_only(airflow: AirflowStack) -> None:
    addresses = airflow.listening_addresses()
    assert (HOST, int(airflow.base_url.rsplit(":", 1)[1])) in addresses
    assert {ip for ip, _ in addresses} == {HOST}, addresses


def test_deferred_task_resumes_through_the_triggerer(airflow: AirflowStack) -> None:
    dag_id = "triggerer_roundtrip"
    airflow.unpause(dag_id)
    token = os.urandom(6).hex()
    run_id = airflow.trigger(dag_id, {"token": token, "seconds": 2})

    state = airflow.wait_for_run(dag_id, run_id, timeout=120)

    assert state == "success", airflow.failure_report(dag_id, run_id)
    assert airflow.task_states(dag_id, run_id) == {"wait": "success", "check": "success"}
    result = airflow.xcom(dag_id, run_id, "wait")
    assert result["token"] == token
    assert result["event"].startswith("20")  # the DateTimeTrigger's moment, sent by the triggerer
    assert airflow.xcom(dag_id, run_id, "check") == token
    log = airflow.task_log(dag_id, run_id, "wait")
    assert "trigger starting" in log, log[-3000:]


def test_example_batch_split_fanout_merge_via_rest(airflow: AirflowStack) -> None:
    """Example 1 through the REST API against the emulator and Azurite; its check task compares the
    merged result with a local computation, and its teardown deletes the pool and job it created."""
    example = _load("example_split_fanout_merge", EXAMPLE_DAGS / f"{EXAMPLE}.py")
    pool_id = f"e2e-rest-{os.urandom(3).hex()}"
    conf = {"records": 3000, "chunks": 6, "seed": 7, "pool_id": pool_id, "python": sys.executable}
    airflow.unpause(EXAMPLE)
    run_id = airflow.trigger(EXAMPLE, conf)

    state = airflow.wait_for_run(EXAMPLE, run_id, timeout=180)

    states = airflow.task_states(EXAMPLE, run_id)
    assert state == "success", airflow.failure_report(EXAMPLE, run_id)
    assert set(states.values()) == {"success"}, states
    assert airflow.xcom(EXAMPLE, run_id, "fanout")["task_count"] == 6
    assert airflow.xcom(EXAMPLE, run_id, "check") == example.expected_stats(3000, 7)
    assert f"pool:{pool_id}" in airflow.xcom(EXAMPLE, run_id, "cleanup")["deleted"]
    # The pool operator deferred: the provider's trigger ran in the triggerer and wrote its own log.
    trigger_logs = list(
        airflow.home.glob(f"logs/dag_id={EXAMPLE}/run_id=*/task_id=pool/attempt=*.log.trigger.*.log")
    )
    assert trigger_logs, "the pool task never deferred to the triggerer"
    assert "node(s) ready" in trigger_logs[0].read_text(), trigger_logs[0].read_text()[-2000:]


@pytest.mark.parametrize("dag_id", OTHER_EXAMPLES)
def test_other_examples_via_rest(airflow: AirflowStack, dag_id: str) -> None:
    """Seeds 003, 000 and 004 through the REST API with the run configs ``make airflow`` suggests."""
    conf = AIRFLOW_UI.suggested_configs()[dag_id]
    if "pool_id" in _params(airflow, dag_id):
        conf = {**conf, "pool_id": f"e2e-{dag_id[:12].replace('_', '-')}-{os.urandom(3).hex()}"}
    airflow.unpause(dag_id)
    run_id = airflow.trigger(dag_id, conf)

    state = airflow.wait_for_run(dag_id, run_id, timeout=240)

    assert state == "success", airflow.failure_report(dag_id, run_id)
    states = airflow.task_states(dag_id, run_id)
    assert set(states.values()) <= {"success", "skipped"}, states
    assert "success" in states.values()


def _params(airflow: AirflowStack, dag_id: str) -> dict[str, Any]:
    """The DAG's declared params, as the UI reads them."""
    response = airflow.request("GET", f"/dags/{dag_id}/details")
    response.raise_for_status()
    return dict(response.json().get("params") or {})


def test_scheduled_dag_backfills_three_days_two_at_a_time_on_one_shared_pool(airflow: AirflowStack) -> None:
    """The README's ``@daily`` DAG over three consecutive logical dates, two runs at a time, all on one
    reused pool: each run's result is right, each run's cleanup deleted exactly its own job and
    workspace, and the shared pool outlives them all (no run asked to delete it)."""
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.workspace import RunWorkspace

    pool_id = f"e2e-words-{os.urandom(3).hex()}"
    conf = {"pool_id": pool_id, "python": sys.executable, "chunks": 3}
    airflow.unpause(SCHEDULED)
    airflow.backfill(SCHEDULED, "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", conf, max_active_runs=2)
    deadline = time.monotonic() + 60
    while len(runs := airflow.dag_runs(SCHEDULED, "backfill")) < 3 and time.monotonic() < deadline:
        airflow.check_alive()
        time.sleep(0.5)
    assert [r["logical_date"][:10] for r in runs] == ["2026-01-01", "2026-01-02", "2026-01-03"], runs

    for run in runs:
        state = airflow.wait_for_run(SCHEDULED, run["dag_run_id"], timeout=240)
        assert state == "success", airflow.failure_report(SCHEDULED, run["dag_run_id"])

    text = (EXAMPLE_DAGS / "batch_programs" / "words.txt").read_text()
    want = {"lines": len(text.splitlines()), "words": len(text.split())}
    runs = airflow.dag_runs(SCHEDULED, "backfill")
    jobs, containers = set(), set()
    for run in runs:
        run_id = run["dag_run_id"]
        assert airflow.xcom(SCHEDULED, run_id, "total") == want
        fanout = airflow.xcom(SCHEDULED, run_id, "fanout")
        workspace = RunWorkspace.for_run(SCHEDULED, run_id)
        assert fanout["workspace"] == workspace.to_dict()
        cleanup = airflow.xcom(SCHEDULED, run_id, "cleanup")
        own = {f"job:{fanout['job_id']}", *(f"container:{c}" for c in workspace.containers)}
        assert set(cleanup["deleted"]) == own, cleanup  # its own job and workspace, nothing else
        jobs.add(fanout["job_id"])
        containers.update(workspace.containers)
    assert len(jobs) == 3 and len(containers) == 6  # isolated: nothing shared between the runs
    # Two runs were active at once (max_active_runs=2): the second started before the first ended.
    first, second = runs[0], runs[1]
    assert second["start_date"] < first["end_date"], (first, second)
    blob = BlobHook()
    assert not any(blob.container_exists(c) for c in containers)
    batch = BatchHook()
    assert batch.get_pool(pool_id) is not None  # shared: no run asked to delete it
    assert all(batch.get_job(j) in (None,) or batch.get_job(j).get("state") == "deleting" for j in jobs)
    batch.delete_pool(pool_id)
