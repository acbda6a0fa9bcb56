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

import httpx
import pytest

from airflow_azure_compute.emulator.airflow_stack import (
    HOST,
    AirflowStack,
    AirflowStackError,
    link_dags_folder,
    run_airflow,
)
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


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, azurite: AzuriteEndpoints) -> Iterator[AirflowStack]:
    """The stack over our harness DAG and the four examples, with the connections ``make airflow`` uses."""
    dag_files = [E2E_DAGS / "triggerer_roundtrip.py", E2E_DAGS / "aci_kill_race.py"] + [
        EXAMPLE_DAGS / f"{name}.py" for name in [EXAMPLE, *OTHER_EXAMPLES]
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
    ):
        mp = pytest.MonkeyPatch()  # the same connections in this process, to inspect what runs
        for key, value in AIRFLOW_UI.example_connections(emulator, azurite).items():
            mp.setenv(key, value)
        try:
            yield stack
        finally:
            mp.undo()


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


def _groups_of(run_id: str) -> list[str]:
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook

    return [
        g["name"]
        for g in ContainerInstancesHook().list_groups()
        if (g.get("tags") or {}).get("airflow_run_id") == run_id
    ]


def _poll(condition: Any, timeout: float, what: str) -> None:
    """Poll until ``condition()``; a busy API server (timeouts, SQLite lock errors) is asked again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (httpx.HTTPError, AirflowStackError):
            pass
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


@pytest.mark.parametrize("moment", ["deferral", "running", "printing-logs"])
def test_a_task_killed_at_any_moment_leaves_no_group(airflow: AirflowStack, moment: str) -> None:
    """Mark the deferred ACI task failed at the instant of deferral, once its group runs, and while the
    trigger prints the group's logs into the task log: the group is gone and stays gone."""
    dag_id = "aci_kill_race"
    _poll(lambda: airflow.unpause(dag_id) is None, 120, "cannot unpause")
    run_id = airflow.trigger(dag_id)
    _poll(
        lambda: airflow.task_states(dag_id, run_id).get("run") == "deferred", 120, "the task never deferred"
    )
    if moment != "deferral":
        _poll(lambda: bool(_groups_of(run_id)), 60, "the trigger never created the group")
    if moment == "printing-logs":
        pattern = f"logs/dag_id={dag_id}/run_id={run_id}/task_id=run/attempt=*.log.trigger.*.log"

        def ticking() -> bool:
            return any("[main] tick" in p.read_text() for p in airflow.home.glob(pattern))

        _poll(ticking, 60, "the group's logs never reached the task's log")
    marked: list[int] = []

    def mark_failed() -> bool:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/run"
        marked.append(airflow.request("PATCH", path, json={"new_state": "failed"}).status_code)
        return marked[-1] == 200

    _poll(mark_failed, 60, f"cannot mark the task failed: {marked}")
    _poll(
        lambda: not _groups_of(run_id), 90, f"a group of the killed task is still there: {_groups_of(run_id)}"
    )
    settle = time.monotonic() + 5
    while time.monotonic() < settle:  # and nothing creates it again
        assert _groups_of(run_id) == []
        time.sleep(0.5)
    assert airflow.task_states(dag_id, run_id)["run"] == "failed"


def _params(airflow: AirflowStack, dag_id: str) -> dict[str, Any]:
    """The DAG's declared params, as the UI reads them."""
    response = airflow.request("GET", f"/dags/{dag_id}/details")
    response.raise_for_status()
    return dict(response.json().get("params") or {})
