"""``make demo``: run the Batch split / fan-out / merge example through real Airflow, on this machine.

Starts Azurite and the emulator (Batch, ACI, Durable) on 127.0.0.1, then Airflow's api-server,
scheduler, dag-processor and triggerer (SQLite, LocalExecutor) with connections to both; triggers
``batch_split_fanout_merge`` through the REST API with a run config (as the UI's "Trigger DAG" does) on
the logical date its daily schedule would run first, and unpauses it, so the scheduler starts no second
run on the same pool beside the demo's; follows its tasks, prints the merged result and a table of the Batch pools, jobs
and Blob containers that existed during the run and whether they were deleted, then stops everything.
Exits non-zero when the run does not succeed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from demo_resources import ResourceWatcher

from airflow_azure_compute.emulator.airflow_env import connection_env
from airflow_azure_compute.testing.airflow_stack import AirflowStack, link_dags_folder, run_airflow
from airflow_azure_compute.testing.stack import run_azurite, run_emulator

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"
EXAMPLE = EXAMPLE_DAGS / "batch_split_fanout_merge.py"

#: Emulated node boot time. Long enough that the executor has reported the deferring process's exit
#: before the trigger fires: Airflow 3.3.2 fails a task whose resume is queued before that report.
NODE_BOOT_S = 8

#: Run config of the demo run: small enough for 2 cores, big enough to fan out.
EXAMPLE_CONF: dict[str, Any] = {
    "records": 5000,
    "chunks": 8,
    "seed": 42,
    "pool_id": "demo-split-fanout",
    # The emulator runs Batch tasks as local processes: use this interpreter on the "nodes".
    "python": sys.executable,
}


def log(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)


def follow(airflow: AirflowStack, dag_id: str, run_id: str, timeout: float, started: float) -> str:
    """Wait for the run, printing each task state change; return the final run state."""
    deadline = time.monotonic() + timeout
    shown: dict[str, str | None] = {}
    while True:
        airflow.check_alive()
        states = airflow.task_states(dag_id, run_id)
        for task, state in states.items():
            if shown.get(task) != state and state is not None:
                log(f"  {task}: {state}", started)
        shown.update(states)
        run_state = airflow.run_state(dag_id, run_id)
        if run_state in {"success", "failed"}:
            return run_state
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run_state} after {timeout:.0f}s: {states}")
        time.sleep(1)


def results(airflow: AirflowStack, dag_id: str, run_id: str) -> dict[str, Any]:
    """Return values (XCom) of the merge / verify tasks, or of every task that returned something."""
    values: dict[str, Any] = {}
    for ti in airflow.task_instances(dag_id, run_id):
        if ti.get("map_index", -1) >= 0 or ti["state"] != "success":
            continue
        response = airflow.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/xcomEntries/return_value",
            params={"deserialize": "true", "stringify": "false"},
        )
        if response.status_code == 200:
            values[ti["task_id"]] = response.json()["value"]
    picked = {k: v for k, v in values.items() if any(w in k for w in ("merge", "verify", "check"))}
    return picked or values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for the DAG run")
    parser.add_argument("--airflow-home", type=Path, default=None, help="keep AIRFLOW_HOME (logs) here")
    args = parser.parse_args(argv)
    started = time.monotonic()

    dag_id, conf = EXAMPLE.stem, EXAMPLE_CONF

    with run_azurite() as azurite:
        log(f"Azurite: {azurite.blob_url}", started)
        # Nodes take seconds to boot (minutes on Azure), so the pool wait is deferred to the triggerer.
        with run_emulator(
            extra_args=["--batch-node-boot-s", str(NODE_BOOT_S)],
            batch_blob_endpoint=azurite.blob_endpoint_template,
        ) as endpoints:
            log(f"Emulator: batch {endpoints['batch']['url']}, aci {endpoints['aci']['url']}", started)
            watcher = ResourceWatcher(endpoints, azurite)
            with tempfile.TemporaryDirectory(prefix="demo-dags-") as tmp:
                dags = link_dags_folder(Path(tmp), [EXAMPLE], EXAMPLE_DAGS)
                log("Starting Airflow: db migrate, api-server, scheduler, dag-processor, triggerer", started)
                with run_airflow(dags, connection_env(endpoints, azurite), home=args.airflow_home) as airflow:
                    log(f"Airflow healthy at {airflow.base_url}", started)
                    watcher.start()
                    # The scheduled slot the scheduler would fill on unpause: this run takes it.
                    run_id = airflow.trigger(dag_id, conf, logical_date=airflow.next_logical_date(dag_id))
                    airflow.unpause(dag_id)
                    log(f"Triggered {dag_id} with conf {json.dumps(conf)}: {run_id}", started)
                    try:
                        state = follow(airflow, dag_id, run_id, args.timeout, started)
                    finally:
                        watcher.stop()
                    log(f"Run finished: {state}", started)
                    if state != "success":
                        print(airflow.failure_report(dag_id, run_id))
                    else:
                        print("\nMerged result (the check task compared it with a local computation):")
                        for task, value in results(airflow, dag_id, run_id).items():
                            print(f"  {task}: {json.dumps(value, sort_keys=True, default=str)[:1500]}")
            print("\nResources created during the run (polled from the emulator and Azurite):")
            print(watcher.table() if watcher.seen else "  (none seen)")
            calls = watcher.request_counts()
            if calls:
                print("\nBatch create/delete calls served by the emulator:")
                for route, count in calls.items():
                    print(f"  {count:5d}  {route}")
            leftovers = [e for e in watcher.seen.values() if e.present_at_end]
            if leftovers:
                print(f"\nWARNING: {len(leftovers)} resource(s) still present after the run's cleanup")
    log(
        f"Stopped Azurite, the emulator and Airflow; demo {'passed' if state == 'success' else 'FAILED'}",
        started,
    )
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
