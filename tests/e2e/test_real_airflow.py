"""End to end on real Airflow components: api-server, scheduler, dag-processor and triggerer.

One stack (SQLite, LocalExecutor, all on 127.0.0.1) serves the module. DAGs are triggered through
the REST API with a run config, exactly as from the UI's "Trigger DAG", and must succeed: proof that
the deferrable tasks' triggers load and fire in the triggerer process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_azure_compute.connections import ServiceKind
from airflow_azure_compute.testing.airflow_stack import (
    HOST,
    AirflowStack,
    AirflowStackError,
    link_dags_folder,
    run_airflow,
)
from airflow_azure_compute.testing.stack import AzuriteEndpoints, run_emulator

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
#: python_workflow runs under dag.test() only: its Batch steps finish within a second or two, so the trigger
#: fires as early as the NODE_BOOT_S note above warns; a resumed step then ended "failed" after running
#: (the Task SDK logged "Failed to report terminal task state to supervisor").
OTHER_EXAMPLES = ["batch_manifest_workflow", "python_map", "durable_aci_pipeline"]
SCHEDULED = "count_words"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, azurite: AzuriteEndpoints) -> Iterator[AirflowStack]:
    """The stack over our harness DAG and the four examples, with the connections ``make airflow`` uses."""
    dag_files = [
        E2E_DAGS / "triggerer_roundtrip.py",
        E2E_DAGS / "asset_producer_consumer.py",
        E2E_DAGS / "live_output.py",
        E2E_DAGS / "aci_kill_race.py",
        E2E_DAGS / "batch_kill_race.py",
        E2E_DAGS / "batch_map_kill_race.py",
        E2E_DAGS / "portal_links.py",
    ] + [EXAMPLE_DAGS / f"{name}.py" for name in [EXAMPLE, *OTHER_EXAMPLES, SCHEDULED]]
    # The harness DAGs' shared module (harness_parts.py) is linked beside them but not parsed.
    dags = link_dags_folder(tmp_path_factory.mktemp("dags"), dag_files, [EXAMPLE_DAGS, E2E_DAGS])
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


def _run_instead_of_the_schedule(airflow: AirflowStack, dag_id: str, conf: dict[str, Any]) -> str:
    """Trigger a run with ``conf`` on the logical date the scheduler fills when the DAG is unpaused, then
    unpause it: the scheduler finds that date taken and starts no scheduled run (on the DAG's default
    params) beside the one under test. Return the run id."""
    run_id = airflow.trigger(dag_id, conf, logical_date=airflow.next_logical_date(dag_id))
    airflow.unpause(dag_id)
    return run_id


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
    run_id = _run_instead_of_the_schedule(airflow, EXAMPLE, conf)

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
    run_id = _run_instead_of_the_schedule(airflow, dag_id, conf)

    state = airflow.wait_for_run(dag_id, run_id, timeout=240)

    assert state == "success", airflow.failure_report(dag_id, run_id)
    states = airflow.task_states(dag_id, run_id)
    assert set(states.values()) <= {"success", "skipped"}, states
    assert "success" in states.values()
    assert [r["dag_run_id"] for r in airflow.dag_runs(dag_id)] == [run_id]  # no scheduled run beside it


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


def _poll_for_good(holds: Any, timeout: float, what: str) -> None:
    """Poll until ``holds()`` has been true for 8 s in a row: a trigger the triggerer picked up just before
    a task was killed may still create or release work, which its ``on_kill`` then stops."""
    since: list[float] = []

    def held_for_good() -> bool:
        if not holds():
            since.clear()
            return False
        since[:] = since or [time.monotonic()]
        return time.monotonic() - since[0] >= 8

    _poll(held_for_good, timeout, what)


def _trigger_log_has(airflow: AirflowStack, dag_id: str, run_id: str, task_id: str, text: str) -> bool:
    pattern = f"logs/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/attempt=*.log.trigger.*.log"
    return any(text in p.read_text() for p in airflow.home.glob(pattern))


def _mark_failed(airflow: AirflowStack, dag_id: str, run_id: str, task_id: str) -> None:
    marked: list[int] = []

    def mark_failed() -> bool:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        marked.append(airflow.request("PATCH", path, json={"new_state": "failed"}).status_code)
        return marked[-1] == 200

    _poll(mark_failed, 60, f"cannot mark the task failed: {marked}")


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
        _poll(
            lambda: _trigger_log_has(airflow, dag_id, run_id, "run", "[main] tick"),
            60,
            "the group's logs never reached the task's log",
        )
    _mark_failed(airflow, dag_id, run_id, "run")
    # A trigger the triggerer picked up just before the mark may still create the group; its on_kill
    # then deletes it. What must hold: the group goes, and stays gone for good.
    _poll_for_good(
        lambda: not _groups_of(run_id),
        120,
        f"a group of the killed task is still there: {_groups_of(run_id)}",
    )
    assert airflow.task_states(dag_id, run_id)["run"] == "failed"


def _params(airflow: AirflowStack, dag_id: str) -> dict[str, Any]:
    """The DAG's declared params, as the UI reads them."""
    response = airflow.request("GET", f"/dags/{dag_id}/details")
    response.raise_for_status()
    return dict(response.json().get("params") or {})


# ------------------------------------------------------------------------- the UI's Test button
#: The four connection types, under the ids ``make airflow`` defines them with.
OUR_CONNECTIONS = [f"{kind.value}_default" for kind in ServiceKind]


def _served_extra_fields(airflow: AirflowStack, conn_type: str) -> dict[str, Any]:
    """The extra fields of ``conn_type`` as the api-server serves them to the connection form
    (``GET /ui/connections/hook_meta``): name to parameter spec, its ``value`` the field's default."""
    response = httpx.get(
        f"{airflow.base_url}/ui/connections/hook_meta",
        headers={"Authorization": f"Bearer {airflow.token()}"},
        timeout=30,
    )
    response.raise_for_status()
    (meta,) = [m for m in response.json() if m["connection_type"] == conn_type]
    return dict(meta["extra_fields"])


def _as_saved_by_the_form(airflow: AirflowStack, conn_id: str, conn: dict[str, Any]) -> dict[str, Any]:
    """The body Airflow 3.3's connection form posts on Save: port hidden (null), and in the extra every
    field the hook metadata lists, with its served value (null without a default) unless filled in
    (the form's parameter store serializes the value of every field it shows)."""
    served = _served_extra_fields(airflow, conn["conn_type"])
    extra = {name: spec["value"] for name, spec in served.items()}
    extra.update(conn.get("extra") or {})
    return {
        "connection_id": conn_id,
        "conn_type": conn["conn_type"],
        "description": "",
        "host": conn.get("host", ""),
        "login": conn.get("login", ""),
        "password": conn.get("password", ""),
        "port": None,
        "schema": "",
        "extra": json.dumps(extra),
    }


def _as_sent_by_the_test_button(listed: dict[str, Any]) -> dict[str, Any]:
    """The body Airflow 3.3's TestConnectionButton builds from the connection list's entry."""
    return {
        "conn_type": listed["conn_type"],
        "connection_id": listed["connection_id"],
        "description": listed.get("description") or "",
        "extra": listed.get("extra") or "{}",
        "host": listed.get("host") or "",
        "login": listed.get("login") or "",
        "password": listed.get("password") or "",
        "port": int(listed.get("port") or 0),  # Number(null) === 0
        "schema": listed.get("schema") or "",
    }


@pytest.mark.parametrize("default_id", OUR_CONNECTIONS)
def test_ui_test_button_on_a_connection_saved_from_the_form(airflow: AirflowStack, default_id: str) -> None:
    """Save a connection as the form does, list it, press Test: the api-server runs the hook's probe
    against the emulator or Azurite and reports success."""
    conn = json.loads(airflow.env[f"AIRFLOW_CONN_{default_id.upper()}"])
    conn_id = f"ui_{default_id}_{os.urandom(3).hex()}"
    created = airflow.request("POST", "/connections", json=_as_saved_by_the_form(airflow, conn_id, conn))
    assert created.status_code == 201, created.text
    listed = airflow.request("GET", f"/connections/{conn_id}")
    assert listed.status_code == 200, listed.text
    assert listed.json()["port"] is None
    body = _as_sent_by_the_test_button(listed.json())
    assert body["port"] == 0

    response = airflow.request("POST", "/connections/test", json=body)

    assert response.status_code == 200, response.text
    assert response.json()["status"] is True, response.json()


def _stored_extra(airflow: AirflowStack, conn_id: str) -> dict[str, Any]:
    response = airflow.request("GET", f"/connections/{conn_id}")
    assert response.status_code == 200, response.text
    return dict(json.loads(response.json()["extra"] or "{}"))


@pytest.mark.parametrize("default_id", OUR_CONNECTIONS)
def test_the_form_stores_only_the_extra_fields_filled_in(airflow: AirflowStack, default_id: str) -> None:
    """Save a connection as the form does (null for every extra field left empty): the api-server
    plugin drops the empty fields, so the stored extra holds only what was filled in."""
    conn = json.loads(airflow.env[f"AIRFLOW_CONN_{default_id.upper()}"])
    conn_id = f"form_{default_id}_{os.urandom(3).hex()}"
    body = _as_saved_by_the_form(airflow, conn_id, conn)
    posted = json.loads(body["extra"])
    assert None in posted.values()  # what the form sends

    created = airflow.request("POST", "/connections", json=body)

    assert created.status_code == 201, created.text
    filled_in = {name for name, value in posted.items() if value is not None}
    assert set(_stored_extra(airflow, conn_id)) == filled_in == {"allow_http", *(conn.get("extra") or {})}


def test_editing_a_connection_in_the_form_removes_a_cleared_field(airflow: AirflowStack) -> None:
    """Edit a saved connection as the form does, clearing a field it had: the field is gone from the
    stored extra (not kept as null), the others are unchanged."""
    conn = json.loads(airflow.env["AIRFLOW_CONN_AZURE_COMPUTE_BATCH_DEFAULT"])
    assert conn["extra"].get("resource_group")
    conn_id = f"form_edit_{os.urandom(3).hex()}"
    body = _as_saved_by_the_form(airflow, conn_id, conn)
    assert airflow.request("POST", "/connections", json=body).status_code == 201
    before = _stored_extra(airflow, conn_id)
    edited = {**json.loads(body["extra"]), "resource_group": None}

    patched = airflow.request("PATCH", f"/connections/{conn_id}", json={**body, "extra": json.dumps(edited)})

    assert patched.status_code == 200, patched.text
    after = _stored_extra(airflow, conn_id)
    assert "resource_group" in before and "resource_group" not in after
    assert after == {name: value for name, value in before.items() if name != "resource_group"}


# ---------------------------------------------------------------------------------------- Assets
def _wait_for_asset_run(airflow: AirflowStack, dag_id: str, timeout: float = 120) -> dict[str, Any]:
    """The first asset-triggered run of ``dag_id`` once finished (polled with a deadline)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        runs = airflow.request("GET", f"/dags/{dag_id}/dagRuns", params={"run_type": "asset_triggered"})
        runs.raise_for_status()
        finished = [r for r in runs.json()["dag_runs"] if r["state"] in ("success", "failed")]
        if finished:
            return dict(finished[0])
        assert time.monotonic() < deadline, f"{dag_id} never ran on an asset event: {runs.json()}"
        time.sleep(0.5)


def test_merged_output_schedules_the_consumer_dag(airflow: AirflowStack, azurite: AzuriteEndpoints) -> None:
    """The merge reports its blob as an Asset event through its default alias; the DAG scheduled on that
    alias runs, and its task sees the event's URI and extra. The event is listed by the assets API
    (the UI's Asset Events tab)."""
    tag = os.urandom(4).hex()
    airflow.unpause("asset_consumer")
    airflow.unpause("asset_producer")
    run_id = airflow.trigger("asset_producer", {"tag": tag, "lines": 40})
    assert airflow.wait_for_run("asset_producer", run_id, timeout=120) == "success", airflow.failure_report(
        "asset_producer", run_id
    )
    uri = f"wasbs://e2e-assets-{tag}@{azurite.account_name}/merged.txt"
    merged_size = airflow.xcom("asset_producer", run_id, "merge")["size"]

    consumer = _wait_for_asset_run(airflow, "asset_consumer")

    assert consumer["state"] == "success", airflow.failure_report("asset_consumer", consumer["dag_run_id"])
    seen = airflow.xcom("asset_consumer", consumer["dag_run_id"], "consume")
    assert {"uri": uri, "extra": {"size": merged_size}} in seen, seen
    events = airflow.request("GET", "/assets/events", params={"limit": 100})
    events.raise_for_status()
    assert uri in {e["uri"] for e in events.json()["asset_events"]}, events.json()


# ----------------------------------------------------------------------------------- live output
#: One pool per harness DAG for the whole module (``if_exists="reuse"``): only the first run waits for a
#: node to boot.
KILL_POOLS = {
    dag: f"e2e-{dag[:9].replace('_', '-')}-{os.urandom(3).hex()}"
    for dag in ("batch_kill_race", "batch_map_kill_race")
}


def _kill_at_deferral(airflow: AirflowStack, dag_id: str, run_id: str, upstream: str, task_id: str) -> bool:
    """Once ``upstream`` succeeded, stop the triggerer (SIGSTOP to its process group), wait until
    ``task_id`` defers and mark it failed: the window in which Airflow deletes a trigger unrun. Returns
    whether the triggerer stayed stopped throughout: stopped while it held a database lock, it is let
    run for a moment (the rest of Airflow waits on it), and may then have picked the trigger up."""
    _poll(
        lambda: airflow.task_states(dag_id, run_id).get(upstream) == "success", 180, f"{upstream} never ended"
    )
    group = airflow.processes["triggerer"].pid
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
    deadline = time.monotonic() + 120
    stopped_throughout = True
    os.killpg(group, signal.SIGSTOP)
    try:
        since = time.monotonic()
        deferred = False
        while True:
            assert time.monotonic() < deadline, f"{task_id} was not deferred and marked failed in time"
            try:
                if not deferred:
                    deferred = airflow.task_states(dag_id, run_id).get(task_id) == "deferred"
                    since = time.monotonic() if deferred else since
                if (
                    deferred
                    and airflow.request("PATCH", path, json={"new_state": "failed"}).status_code == 200
                ):
                    if not stopped_throughout:
                        warnings.warn(
                            f"{dag_id}.{task_id}: the triggerer had to run during the kill; the trigger may "
                            "have been picked up, so the unrun-trigger window was not exercised",
                            stacklevel=2,
                        )
                    return stopped_throughout
            except (httpx.HTTPError, AirflowStackError):
                pass
            if time.monotonic() - since > (5 if deferred else 30):  # stuck behind the stopped triggerer
                os.killpg(group, signal.SIGCONT)
                time.sleep(0.3)
                os.killpg(group, signal.SIGSTOP)
                stopped_throughout, since = False, time.monotonic()
            time.sleep(0.25)
    finally:
        os.killpg(group, signal.SIGCONT)


def _running_tasks(hook: Any, job_id: str) -> int:
    """How many tasks of ``job_id`` run; 0 once the job is gone (the cleanup may delete it any time)."""
    from airflow_azure_compute.exceptions import AzureComputeRemoteError

    try:
        return int(hook.get_task_counts(job_id).running)
    except AzureComputeRemoteError as err:
        if err.code == "JobNotFound":
            return 0
        raise


def _no_task_runs_for_good(job_id: str) -> None:
    """Poll until no task of ``job_id`` runs, and none has for 8 s in a row (see ``_poll_for_good``)."""
    from airflow_azure_compute.hooks.batch import BatchHook

    hook = BatchHook()
    _poll_for_good(
        lambda: not _running_tasks(hook, job_id), 120, f"tasks of the killed task's job {job_id} still run"
    )


@pytest.mark.parametrize("moment", ["deferral", "polling", "printing-logs"])
def test_a_killed_batch_wait_leaves_no_task_running(airflow: AirflowStack, moment: str) -> None:
    """Mark the deferred Batch sensor failed at the instant of deferral (the triggerer paused: its
    trigger is usually deleted unrun, or started once the triggerer resumes and then cancelled, see the
    map's test), while its trigger polls (a task of its job runs; one node: the rest
    queue), and while it prints that task's output: the trigger's on_kill terminates the job the run
    owns, and the fan-out's teardown deletes it, the only stop when the trigger never ran. No task of
    the job runs afterwards."""
    from airflow_azure_compute.hooks.batch import BatchHook

    dag_id = "batch_kill_race"
    _poll(lambda: airflow.unpause(dag_id) is None, 120, "cannot unpause")
    run_id = airflow.trigger(dag_id, {"pool_id": KILL_POOLS[dag_id], "python": sys.executable})
    hook = BatchHook()
    if moment == "deferral":
        _kill_at_deferral(airflow, dag_id, run_id, "fanout", "wait")
        fanout = airflow.xcom(dag_id, run_id, "fanout")
    else:
        _poll(
            lambda: airflow.task_states(dag_id, run_id).get("wait") == "deferred",
            180,
            "the sensor never deferred",
        )
        fanout = airflow.xcom(dag_id, run_id, "fanout")
        _poll(lambda: hook.get_task_counts(fanout["job_id"]).running > 0, 60, "the job's tasks never ran")
        # The trigger runs in the triggerer: its progress lines, then the task's output, reach the log.
        seen = f"job {fanout['job_id']}:" if moment == "polling" else "stdout] tick"
        _poll(lambda: _trigger_log_has(airflow, dag_id, run_id, "wait", seen), 60, f"no {seen!r} in the log")
        _mark_failed(airflow, dag_id, run_id, "wait")
    assert fanout["owns_job"] is True
    _no_task_runs_for_good(fanout["job_id"])
    _poll(
        lambda: airflow.task_states(dag_id, run_id).get("cleanup") == "success", 120, "the teardown never ran"
    )
    assert airflow.task_states(dag_id, run_id)["wait"] == "failed"
    if _trigger_log_has(airflow, dag_id, run_id, "wait", f"job {fanout['job_id']}:"):  # the trigger ran
        assert _trigger_log_has(airflow, dag_id, run_id, "wait", f"terminating job {fanout['job_id']}")
    job = hook.get_job(fanout["job_id"])
    assert job is None or job["state"] == "deleting"  # the teardown deleted it


@pytest.mark.parametrize("moment", ["submitting", "deferral", "deferred"])
def test_a_killed_batch_map_leaves_no_task_running(airflow: AirflowStack, moment: str) -> None:
    """Mark a Batch map failed as soon as the worker runs it, at the instant of deferral (the triggerer
    paused) and while its wait runs: no task of its job runs afterwards. The map holds its job until its
    trigger's first poll.

    At the instant of deferral Airflow usually deletes the trigger unrun (no on_kill anywhere: the held
    job never runs a task, the cleanup deletes it). Airflow 3.3 can also start it once the triggerer
    resumes, since it assigns triggers by their task's ``trigger_id`` before it cleans unused ones, and
    then cancels it: that trigger released the job, so its on_kill must have terminated it."""
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.ids import derive_id

    dag_id = "batch_map_kill_race"
    _poll(lambda: airflow.unpause(dag_id) is None, 120, "cannot unpause")
    run_id = airflow.trigger(dag_id, {"pool_id": KILL_POOLS[dag_id], "python": sys.executable})
    job_id = derive_id("pyjob", dag_id, run_id, "map", -1, 0)  # the map's first round
    hook = BatchHook()
    if moment == "deferral":
        stopped_throughout = _kill_at_deferral(airflow, dag_id, run_id, "pool", "map")
        if (
            stopped_throughout
        ):  # held, queued (or deleted by the cleanup), unless the resumed triggerer ran it
            job = hook.get_job(job_id)
            if not (job is None or job["state"] in ("disabled", "deleting")) or _running_tasks(hook, job_id):
                _poll(
                    lambda: _trigger_log_has(airflow, dag_id, run_id, "map", "released"),
                    30,
                    f"the job was released, yet not by its trigger: {job}",
                )
    else:
        state = "running" if moment == "submitting" else "deferred"
        _poll(
            lambda: airflow.task_states(dag_id, run_id).get("map") == state, 180, f"the map never got {state}"
        )
        if moment == "deferred":
            _poll(
                lambda: hook.get_job(job_id) is not None and _running_tasks(hook, job_id) > 0,
                60,
                "the trigger never released the job",
            )
        _mark_failed(airflow, dag_id, run_id, "map")
    try:
        _no_task_runs_for_good(job_id)
        _poll(
            lambda: airflow.task_states(dag_id, run_id).get("cleanup") == "success",
            120,
            "the cleanup never ran",
        )
        assert airflow.task_states(dag_id, run_id)["map"] == "failed"
        if (
            moment == "deferral"
            and stopped_throughout
            and _trigger_log_has(airflow, dag_id, run_id, "map", "released")
        ):
            assert _trigger_log_has(airflow, dag_id, run_id, "map", f"terminating job {job_id}"), (
                "the trigger started after the kill released the job and did not stop it"
            )
        job = hook.get_job(job_id)
        # Deleted by the cleanup; or, should the killed worker still have created it after the cleanup
        # ran, held (no trigger) or terminated (its on_kill): running nothing either way.
        assert job is None or job["state"] in ("deleting", "disabled", "terminating", "completed"), job
    finally:
        hook.delete_job(job_id)


def test_deferred_wait_streams_the_task_output_while_it_runs(airflow: AirflowStack) -> None:
    """The triggerer streams the talking task's stdout/stderr into the sensor's log: every line exactly
    once, and some of them while the task was still running (before a progress line counting it done)."""
    pool_id = f"e2e-live-{os.urandom(3).hex()}"
    airflow.unpause("live_output")
    run_id = airflow.trigger("live_output", {"pool_id": pool_id, "python": sys.executable})

    state = airflow.wait_for_run("live_output", run_id, timeout=180)

    assert state == "success", airflow.failure_report("live_output", run_id)
    logs = list(
        airflow.home.glob(f"logs/dag_id=live_output/run_id={run_id}/task_id=wait/attempt=*.log.trigger.*.log")
    )
    assert logs, "the sensor never deferred to the triggerer"
    text = "\n".join(log.read_text() for log in logs)
    lines = text.splitlines()
    talk = [line for line in lines if "stdout] talk " in line]
    assert [line.rsplit("talk ", 1)[1][:3] for line in talk] == [f"{i:03d}" for i in range(30)], talk
    warn = [line for line in lines if "stderr] warn " in line]
    assert len(warn) == 3, warn
    first_talk = lines.index(talk[0])
    done = [i for i, line in enumerate(lines) if "1/1 done" in line]
    assert done and first_talk < done[0], "no output was streamed before the task ended"


# ----------------------------------------------------------------------------------- portal links
LINKS_DAG = "portal_links"
#: The documented portal address of a resource: ``https://portal.azure.com/#resource<ARM id>`` (the
#: ``portalLink`` of Azure Monitor's autoscale webhook payload; see ``airflow_azure_compute.links``).
PORTAL_RESOURCE = "https://portal.azure.com/#resource"


def _linked_operator_classes() -> set[type]:
    """Every public operator and sensor class of the provider that declares an extra link."""
    import importlib
    import inspect
    import pkgutil

    from airflow.sdk import BaseOperator

    import airflow_azure_compute.operators as operators
    import airflow_azure_compute.sensors as sensors

    found: set[type] = set()
    for package in (operators, sensors):
        for module in pkgutil.iter_modules(package.__path__):
            loaded = importlib.import_module(f"{package.__name__}.{module.name}")
            for name, cls in inspect.getmembers(loaded, inspect.isclass):
                if (
                    issubclass(cls, BaseOperator)
                    and cls.__module__ == loaded.__name__
                    and not name.startswith("_")
                    and cls.operator_extra_links
                ):
                    found.add(cls)
    return found


def _arm_id(**parts: str) -> str:
    """An ARM resource id from its documented Get request path: subscription, group, provider path."""
    rid = f"/subscriptions/{parts['subscription_id']}/resourceGroups/{parts['resource_group']}"
    return rid + (f"/providers/{parts['provider_path']}" if parts.get("provider_path") else "")


def test_every_link_renders_through_airflow_for_finished_task_instances(airflow: AirflowStack) -> None:
    """A DAG with a task of every operator and sensor class that declares a portal link runs on the
    real stack; each finished task instance's links, read as the UI reads them
    (``GET .../taskInstances/{task}/links``), are the documented portal address of the right ARM
    resource id, with no key or secret in them. A task that failed before persisting its link fields
    gets an empty link (HTTP 200), not an error."""
    from urllib.parse import urlsplit

    pool_id = f"e2e-links-{os.urandom(3).hex()}"
    airflow.unpause(LINKS_DAG)
    run_id = airflow.trigger(LINKS_DAG, {"pool_id": pool_id, "python": sys.executable})
    state = airflow.wait_for_run(LINKS_DAG, run_id, timeout=240)

    states = airflow.task_states(LINKS_DAG, run_id)
    assert state == "failed", airflow.failure_report(LINKS_DAG, run_id)  # no_link fails by design
    not_ok = {task: s for task, s in states.items() if s != "success"}
    assert not_ok == {"no_link": "failed"}, airflow.failure_report(LINKS_DAG, run_id)

    conns = {kind: json.loads(airflow.env[f"AIRFLOW_CONN_{kind.upper()}_DEFAULT"]) for kind in ServiceKind}
    batch, aci, durable = (
        conns[k]["extra"] for k in ("azure_compute_batch", "azure_compute_aci", "azure_compute_durable")
    )
    account = conns["azure_compute_batch"]["login"]
    group = airflow.xcom(LINKS_DAG, run_id, "group")["group_name"]
    batch_account = _arm_id(**batch, provider_path=f"Microsoft.Batch/batchAccounts/{account}")
    pool_link = {"Batch pool": f"{PORTAL_RESOURCE}{batch_account}/pools/{pool_id}"}
    jobs_link = {"Batch account (jobs)": f"{PORTAL_RESOURCE}{batch_account}"}
    group_id = _arm_id(**aci, provider_path=f"Microsoft.ContainerInstance/containerGroups/{group}")
    app_id = _arm_id(**durable, provider_path=f"Microsoft.Web/sites/{durable['function_app_name']}")
    expected: dict[str, dict[str, str | None]] = {
        "pool": pool_link,
        "resize": pool_link,
        **{task: jobs_link for task in ("job", "mpi", "fanout", "wait", "map", "python_on_batch")},
        "group": {"Container group": f"{PORTAL_RESOURCE}{group_id}"},
        "sense_group": {"Container group": f"{PORTAL_RESOURCE}{group_id}"},
        "workers": {"Resource group (workers)": f"{PORTAL_RESOURCE}{_arm_id(**aci)}"},
        "start": {"Function app": f"{PORTAL_RESOURCE}{app_id}"},
        "sense": {"Function app": f"{PORTAL_RESOURCE}{app_id}"},
        "no_link": {"Container group": None},
    }
    mapped_groups = [
        airflow.xcom(LINKS_DAG, run_id, "groups", map_index=index)["group_name"] for index in (0, 1)
    ]
    assert len(set(mapped_groups)) == 2

    # The task list of the API leaves extra_links empty in 3.3.2: read the DAG file the stack parsed.
    dag = _load("portal_links_dag", E2E_DAGS / "portal_links.py").dag
    linked = {t.task_id: t for t in dag.tasks if t.operator_extra_links}
    assert set(linked) == {*expected, "groups"}  # every task with a link is checked
    classes = {type(t) for t in linked.values()}
    missing = {c.__name__ for c in _linked_operator_classes() if not any(issubclass(k, c) for k in classes)}
    assert not missing, f"no task of {sorted(missing)} in {LINKS_DAG}"

    secret_fields = (
        "token",
        "sas_token",
        "connection_string",
        "account_key",
        "client_secret",
        "function_key",
    )
    secrets = [conn["password"] for conn in conns.values() if conn.get("password")]
    secrets += [conn["extra"][f] for conn in conns.values() for f in secret_fields if conn["extra"].get(f)]
    assert len(secrets) >= 4  # Batch, Blob and Durable keys, the ACI token

    instances: list[tuple[str, int, dict[str, str | None]]] = [(t, -1, want) for t, want in expected.items()]
    for index, name in enumerate(mapped_groups):
        group_id = _arm_id(**aci, provider_path=f"Microsoft.ContainerInstance/containerGroups/{name}")
        instances.append(("groups", index, {"Container group": f"{PORTAL_RESOURCE}{group_id}"}))
    for task_id, map_index, want in instances:
        response = airflow.request(
            "GET",
            f"/dags/{LINKS_DAG}/dagRuns/{run_id}/taskInstances/{task_id}/links",
            params={"map_index": map_index},
        )
        assert response.status_code == 200, (task_id, map_index, response.text)
        links = dict(response.json()["extra_links"])
        assert links == want, (task_id, map_index)
        for url in filter(None, links.values()):
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc, parts.path, parts.query) == (
                "https",
                "portal.azure.com",
                "/",
                "",
            )
            assert parts.fragment.startswith("resource/subscriptions/"), url
            assert not any(secret in url for secret in secrets), task_id
            assert "code=" not in url and "sig=" not in url and "key" not in url.lower(), url


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


def test_overlapping_runs_of_the_example_share_one_pool_and_the_last_deletes_it(
    airflow: AirflowStack,
) -> None:
    """The ``@daily`` example (``max_active_runs=2``, teardown with ``pool_ids``) backfilled over two dates
    beside its scheduled date, all on one pool: no run's teardown deletes the pool under another run
    (every run succeeds), a teardown that ends while another run holds the pool keeps it, and each
    pool created is deleted once, by the last run holding it."""
    from airflow_azure_compute.hooks.batch import BatchHook

    pool_id = f"e2e-shared-{os.urandom(3).hex()}"
    conf = {"records": 600, "chunks": 2, "seed": 3, "pool_id": pool_id, "python": sys.executable}
    scheduled = (
        _run_instead_of_the_schedule(airflow, EXAMPLE, conf)
        if airflow.next_logical_date(EXAMPLE) is not None and not airflow.dag_runs(EXAMPLE)
        else None
    )
    airflow.unpause(EXAMPLE)
    airflow.backfill(EXAMPLE, "2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z", conf, max_active_runs=2)
    deadline = time.monotonic() + 60
    while len(runs := airflow.dag_runs(EXAMPLE, "backfill")) < 2 and time.monotonic() < deadline:
        airflow.check_alive()
        time.sleep(0.5)
    run_ids = [r["dag_run_id"] for r in runs] + ([scheduled] if scheduled else [])
    assert len(run_ids) >= 2, runs
    for run_id in run_ids:
        state = airflow.wait_for_run(EXAMPLE, run_id, timeout=300)
        assert state == "success", airflow.failure_report(EXAMPLE, run_id)

    label = f"pool:{pool_id}"
    cleanups = {run_id: airflow.xcom(EXAMPLE, run_id, "cleanup") for run_id in run_ids}
    created = sum(bool(airflow.xcom(EXAMPLE, run_id, "pool")["created"]) for run_id in run_ids)
    deleted = [run_id for run_id, c in cleanups.items() if label in c["deleted"]]
    kept = [run_id for run_id, c in cleanups.items() if label in c["kept"]]
    assert len(deleted) == created >= 1, cleanups  # each pool made was deleted once
    # A teardown must keep the pool when it starts after another run took its lease (that run's pool
    # task ended) and before that run's own teardown: the runs' timing decides whether that happened.
    tis = {rid: {t["task_id"]: t for t in airflow.task_instances(EXAMPLE, rid)} for rid in cleanups}
    must_keep = any(
        tis[y]["pool"]["end_date"] < tis[x]["cleanup"]["start_date"] < tis[y]["cleanup"]["start_date"]
        for x in cleanups
        for y in cleanups
        if x != y
    )
    assert kept or not must_keep, (
        f"a teardown ran while another run held the pool, yet none kept it: {cleanups}"
    )
    for run_id in kept:
        log = airflow.task_log(EXAMPLE, run_id, "cleanup")
        assert f"pool {pool_id} kept: still leased by {EXAMPLE}/" in log, log[-3000:]
    pool = BatchHook().get_pool(pool_id)
    assert pool is None or pool.get("state") == "deleting"
