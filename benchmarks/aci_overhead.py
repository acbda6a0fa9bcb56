"""ACI start -> wait -> delete: the operator's overhead over the emulator's own latency.

Run: ``.venv/bin/python benchmarks/aci_overhead.py [--rounds 5] [--poll 0.2]``.

Starts its own emulator and runs, ``--rounds`` times each, one container group whose container runs
``python -c pass``:

* baseline: the bare SDK sequence through the sync hook: PUT (no LRO wait), GET every ``--poll`` s until
  the container is Terminated, DELETE (LRO awaited);
* ``ContainerInstancesRunGroupOperator`` non-deferrable (same poll interval, ``cleanup="delete"``);
* the same operator deferrable: ``execute`` (creates, defers), the trigger's ``run()`` in an event loop
  (native async client), then ``execute_complete`` (final logs, delete), as a worker + triggerer would.

Reports the median wall time and the ARM requests per run (emulator counters) of each, as ratios to
the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_azure_compute.testing.stack import run_emulator  # noqa: E402

COMMAND = [sys.executable, "-c", "pass"]


def admin(ep: dict[str, Any], path: str, body: Any = None, method: str = "GET") -> Any:
    import ssl

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{ep['aci']['admin_url']}/{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    context = ssl.create_default_context(cafile=ep["aci"]["ca_path"])
    with urllib.request.urlopen(request, timeout=30, context=context) as response:  # 127.0.0.1 only
        return json.loads(response.read() or b"null")


@dataclass
class TI:
    """The parts of a task instance the operator touches."""

    task_id: str
    dag_id: str = "bench"
    run_id: str = "bench-run"
    map_index: int = -1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def baseline(name: str, poll: float) -> None:
    from airflow_azure_compute.hooks.aci_groups import ContainerSpec, build_group_body, evaluate_group
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook

    hook = ContainerInstancesHook()
    hook.create_group(
        name,
        build_group_body([ContainerSpec(name="main", image="bench", command=COMMAND)], location="westeurope"),
    )
    while not evaluate_group(hook.get_group(name) or {}).terminal:
        time.sleep(poll)
    hook.delete_group(name)


def operator(name: str, poll: float, deferrable: bool) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_azure_compute.operators.container_instances import ContainerInstancesRunGroupOperator

    op = ContainerInstancesRunGroupOperator(
        task_id=name,
        group_name=name,
        image="bench",
        command=COMMAND,
        poll_interval=poll,
        logging_interval=None,
        cleanup="delete",
        deferrable=deferrable,
    )
    context = {"ti": TI(task_id=name)}
    try:
        op.execute(context)  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        event = asyncio.run(first_event(deferred.trigger))
        op.execute_complete(context, event, **(deferred.kwargs or {}))  # type: ignore[arg-type]


async def first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise RuntimeError("no event")


def measure(ep: dict[str, Any], label: str, rounds: int, run: Any) -> tuple[float, float]:
    walls = []
    admin(ep, "counters/reset", {}, method="POST")
    for r in range(rounds):
        start = time.perf_counter()
        run(f"bench-{label}-{r}")
        walls.append(time.perf_counter() - start)
    requests = admin(ep, "counters")["total_requests"] / rounds
    return statistics.median(walls), requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--poll", type=float, default=0.2)
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)  # the operator's task log is not what is measured
    with run_emulator() as ep:
        aci = ep["aci"]
        os.environ["AIRFLOW_CONN_AZURE_COMPUTE_ACI_DEFAULT"] = json.dumps(
            {
                "conn_type": "azure_compute_aci",
                "extra": {
                    "arm_endpoint": aci["url"],
                    "subscription_id": aci["subscription_id"],
                    "resource_group": aci["resource_group"],
                    "region": aci.get("location", "westeurope"),
                    "auth_mode": "token",
                    "token": aci["token"],  # issued by the emulator, which refuses any other
                    "ca_bundle": aci["ca_path"],
                },
            }
        )
        baseline("bench-warmup", args.poll)
        rows = [
            ("bare SDK calls (baseline)", measure(ep, "base", args.rounds, lambda n: baseline(n, args.poll))),
            (
                "operator, non-deferrable",
                measure(ep, "sync", args.rounds, lambda n: operator(n, args.poll, False)),
            ),
            (
                "operator, deferrable",
                measure(ep, "defer", args.rounds, lambda n: operator(n, args.poll, True)),
            ),
        ]
    base_wall, base_requests = rows[0][1]
    print(f"rounds: {args.rounds}, poll every {args.poll:g}s, container: python -c pass")
    print(f"{'path':32} {'median wall':>12} {'ratio':>6} {'requests':>9} {'ratio':>6}")
    for label, (wall, requests) in rows:
        print(
            f"{label:32} {wall:11.2f}s {wall / base_wall:6.2f} {requests:9.1f} {requests / base_requests:6.2f}"
        )


if __name__ == "__main__":
    main()
