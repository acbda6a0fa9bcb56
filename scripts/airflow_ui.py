"""``make airflow``: the local stack kept up, with the Airflow UI on http://127.0.0.1:8080.

Starts Azurite and the emulator (Batch, ACI, Durable, loading every ``example_dags/**/function_app.py``)
on 127.0.0.1, then Airflow's api-server, scheduler, dag-processor and triggerer over ``example_dags/``
with this provider's four default connections built from the emulator's endpoints file. Prints the
login; open the UI, pick a DAG, "Trigger" it with your own run config. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from airflow_azure_compute.emulator.airflow_env import connection_env
from airflow_azure_compute.testing.airflow_stack import HOST, run_airflow
from airflow_azure_compute.testing.stack import AzuriteEndpoints, run_azurite, run_emulator

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"


def example_connections(endpoints: dict[str, Any], azurite: AzuriteEndpoints) -> dict[str, str]:
    """The four default connections, plus the worker secrets of the durable_aci_pipeline example."""
    worker = {"conn_type": "generic", "password": endpoints["durable"]["key"]}
    return {**connection_env(endpoints, azurite), "AIRFLOW_CONN_DURABLE_ACI_WORKER": json.dumps(worker)}


def suggested_configs() -> dict[str, dict[str, Any]]:
    """Run configs that fit this machine: the emulator runs Batch tasks and ACI containers as local
    processes, so "nodes" use this interpreter and ACI workers run the example's worker.py."""
    python = sys.executable
    return {
        "batch_split_fanout_merge": {"records": 5000, "chunks": 8, "python": python},
        "batch_manifest_workflow": {"python": python},
        "python_map": {"values": [1, 2, 3, 5, 8, 13], "python": python},
        "python_workflow": {"start": 5, "python": python},
        "durable_aci_pipeline": {
            "worker_command": [
                python,
                "-u",
                "-m",
                "airflow_azure_compute.runtime.queue_worker",
                f"{EXAMPLE_DAGS / 'durable_app' / 'worker.py'}:compute",
            ],
            "worker_idle_s": 1.5,
        },
    }


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_UI_PORT", "8080")))
    parser.add_argument("--dags-folder", type=Path, default=None, help="default: example_dags/")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default=os.environ.get("AIRFLOW_UI_PASSWORD"), help="default: random")
    args = parser.parse_args(argv)

    if not port_is_free(args.port):
        print(
            f"{HOST}:{args.port} is in use; choose another: AIRFLOW_UI_PORT=8081 make airflow",
            file=sys.stderr,
        )
        return 2
    dags = args.dags_folder or EXAMPLE_DAGS
    function_apps = sorted(EXAMPLE_DAGS.glob("**/function_app.py"))
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)  # also when started with SIGINT ignored

    try:
        print("Starting Azurite, the emulator and Airflow (about a minute on 2 cores)...", flush=True)
        with (
            run_azurite() as azurite,
            run_emulator(
                function_apps=function_apps,
                # The example function app reads its storage from this app setting, as on Azure.
                env={"AzureWebJobsStorage": azurite.connection_string},
                batch_blob_endpoint=azurite.blob_endpoint_template,  # pool blob mounts read Azurite
            ) as endpoints,
            run_airflow(
                dags,
                example_connections(endpoints, azurite),
                port=args.port,
                username=args.username,
                password=args.password,
            ) as airflow,
        ):
            endpoints_file = Path(endpoints["log_path"]).parent / "endpoints.json"
            print(
                f"""
Airflow UI:      {airflow.base_url}
Login:           {airflow.username} / {airflow.password}
DAGs folder:     {dags}
Connections:     {", ".join(sorted(c.removeprefix("AIRFLOW_CONN_").lower() for c in example_connections(endpoints, azurite)))}
                 (AIRFLOW_CONN_* environment of every component, built from {endpoints_file})
Azurite blob:    {azurite.blob_url}
Batch emulator:  {endpoints["batch"]["url"]}
ACI emulator:    {endpoints["aci"]["url"]}
Durable:         {endpoints["durable"]["url"]}
Function apps:   {", ".join(str(p.relative_to(REPO)) for p in function_apps) or "(none)"}
Component logs:  {airflow.log_dir}

Run configs that fit this machine (paste into "Trigger" -> advanced / JSON):""",
                flush=True,
            )
            for dag_id, conf in suggested_configs().items():
                print(f"  {dag_id}: {json.dumps(conf)}")
            print('\nUnpause a DAG and use "Trigger" in the UI. Ctrl-C stops everything.', flush=True)
            while True:
                airflow.check_alive()
                time.sleep(2)
    except KeyboardInterrupt:
        print("\nStopped Airflow, the emulator and Azurite.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
