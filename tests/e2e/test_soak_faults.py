"""Soak under faults: every example DAG, run with ``dag.test()`` while every endpoint misbehaves.

10 % of the requests to Batch, ACI, Durable and Storage (through the fault proxy in front of Azurite)
are answered 429 or 503 with ``Retry-After``, 1 % have their connection reset. Each example runs once
fault-free, then ``SOAK_ROUNDS`` times (default 1) under faults, each run on the next day's logical
date as its schedule would run it; each run must succeed with outputs byte-identical to the fault-free
run (the merged blob's MD5 and size, the results in XCom), and leave nothing behind: no active job, no
pool or container of the run, no container group. ``SOAK_ROUNDS=10`` gives a longer measurement.

The Durable function app's own storage (``AzureWebJobsStorage``: queue and blobs used inside the
orchestration) talks to Azurite directly; the provider's Blob traffic goes through the proxy.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_azure_compute.testing.stack import AzuriteEndpoints, run_emulator
from tests.e2e.examples import EXAMPLES, load, run
from tests.integration.test_retry_reconcile import faults, injected

pytestmark = pytest.mark.integration

APP = EXAMPLES / "durable_app"
ROUNDS = int(os.environ.get("SOAK_ROUNDS", "1"))
SERVICES = ("batch", "aci", "durable", "storage")
FAULTY = {"error_rate": 0.10, "reset_rate": 0.01, "retry_after": 1}
#: The logical date of round 0; round r runs r days later (every example has a start date before it).
FIRST_DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)
CALM = {"error_rate": 0.0, "reset_rate": 0.0, "reset_next": 0, "lose_next": 0}


@pytest.fixture(scope="module")
def stack(airflow_db: Path, azurite: AzuriteEndpoints) -> Iterator[dict[str, Any]]:
    """One emulator for the soak: Batch, ACI, Durable (with the example's function app) and the
    storage fault proxy; the Airflow connections point at it."""
    from airflow_azure_compute.emulator.airflow_env import connection_env

    env = {"AzureWebJobsStorage": azurite.connection_string}
    with run_emulator(
        function_apps=[APP / "function_app.py"], env=env, storage_upstream=azurite.blob_url
    ) as endpoints:
        mp = pytest.MonkeyPatch()
        for key, value in connection_env(endpoints, azurite).items():
            mp.setenv(key, value)
        secrets = {
            "conn_type": "generic",
            "password": endpoints["durable"]["key"],
            "extra": {"storage_connection_string": azurite.connection_string},
        }
        mp.setenv("AIRFLOW_CONN_DURABLE_ACI_WORKER", json.dumps(secrets))
        try:
            yield endpoints
        finally:
            mp.undo()


def xcoms(dr: Any, *task_ids: str) -> dict[str, Any]:
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    return {t: tis[t].xcom_pull(task_ids=t) for t in task_ids}


def outputs_split(dr: Any) -> bytes:
    got = xcoms(dr, "merge", "check")
    merged = {k: got["merge"][k] for k in ("size", "md5", "shards")}
    return json.dumps({"merged": merged, "check": got["check"]}, sort_keys=True).encode()


def outputs_of(*task_ids: str) -> Callable[[Any], bytes]:
    return lambda dr: json.dumps(xcoms(dr, *task_ids), sort_keys=True).encode()


def leftovers(run_id: str) -> list[str]:
    """What the run created and did not delete: jobs not ending, pools and containers of the run,
    container groups and orchestration instances."""
    from airflow_azure_compute.hooks.batch import BatchHook, wire_value
    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
    from airflow_azure_compute.ids import RUN_KEY

    def ours(metadata: Any) -> bool:
        items = metadata or []
        values = {i.get("name"): i.get("value") for i in items} if isinstance(items, list) else dict(items)
        return values.get(RUN_KEY) == run_id

    batch = BatchHook()
    left = [
        f"job:{j.id}"
        for j in batch.client.list_jobs()
        if ours([m.as_dict() for m in j.metadata or []])
        and wire_value(j.state) not in ("deleting", "completed")
    ]
    left += [
        f"pool:{p.id}"
        for p in batch.client.list_pools()
        if ours([m.as_dict() for m in p.metadata or []]) and wire_value(p.state) != "deleting"
    ]
    left += [
        f"container:{c.name}"
        for c in BlobHook().client.list_containers(include_metadata=True)
        if ours(c.metadata)
    ]
    left += [f"group:{g.get('name')}" for g in ContainerInstancesHook().list_groups()]
    return left


def dag_of(module: ModuleType) -> Any:
    """The example's DAG: ``dag`` in most modules, the ``@dag``-decorated factory's DAG in the README's."""
    return module.count_words() if hasattr(module, "count_words") else module.dag


def examples() -> list[tuple[str, Callable[[int], dict[str, Any]], Callable[[Any], bytes]]]:
    python = sys.executable
    return [
        (
            "batch_split_fanout_merge",
            lambda r: {
                "records": 3000,
                "chunks": 6,
                "seed": 7,
                "pool_id": f"soak-split-{r}",
                "python": python,
            },
            outputs_split,
        ),
        (
            "batch_manifest_workflow",
            lambda r: {"pool_id": f"soak-workflow-{r}", "start": 4, "python": python},
            outputs_of("final_result"),
        ),
        (  # no pool_id: each run makes its own pool, as its scheduled runs do
            "python_map",
            lambda r: {"values": [0, 4, 7, 10], "python": python},
            outputs_of("collect"),
        ),
        (
            "count_words",
            lambda r: {"pool_id": f"soak-words-{r}", "python": python, "chunks": 4},
            outputs_of("total"),
        ),
        (  # no pool_id: each run makes its own pool, as its scheduled runs do
            "python_workflow",
            lambda r: {"start": 4, "python": python},
            outputs_of("check"),
        ),
        (
            "batch_hpc_mpi",
            lambda r: {"nodes": 2, "n": 5000},
            outputs_of("check"),
        ),
        (
            "durable_aci_pipeline",
            lambda r: {
                "blocks": 6,
                "block_size": 40,
                "workers": 2,
                "worker_image": "python:3.11-slim",
                "worker_command": [
                    python,
                    "-u",
                    "-m",
                    "airflow_azure_compute.runtime.queue_worker",
                    f"{APP / 'worker.py'}:compute",
                ],
                "worker_idle_s": 1.5,
            },
            outputs_of("harvest"),
        ),
    ]


def prepare(name: str, module: ModuleType, conf: dict[str, Any]) -> Callable[[], None]:
    """What a run needs beforehand (the manifest workflow reuses a pool it did not create); returns
    the matching cleanup."""
    if name == "count_words":  # the README's DAG keeps its pool for the next day's run
        from airflow_azure_compute.hooks.batch import BatchHook

        return lambda: BatchHook().delete_pool(conf["pool_id"])
    if name != "batch_manifest_workflow":
        return lambda: None
    from airflow_azure_compute.hooks.batch import BatchHook
    from airflow_azure_compute.specs import PoolSpec

    hook = BatchHook()
    hook.create_pool(PoolSpec.coerce(module.pool_shape(conf["pool_id"])).to_wire())
    return lambda: hook.delete_pool(conf["pool_id"])


def test_every_example_survives_faults_with_identical_outputs(
    stack: dict[str, Any], airflow_db: Path, record_property: Callable[[str, Any], None]
) -> None:
    figures: dict[str, Any] = {"runs": 0, "green": 0, "leftovers": 0, "faults": {}, "seconds": {}}
    for name, conf_for, outputs in examples():
        module = load(name, airflow_db / "dags", module_prefix="soak")
        for service in SERVICES:
            faults(stack, service, **CALM)
        conf = conf_for(0)
        undo = prepare(name, module, conf)
        began = time.monotonic()
        dr = run(dag_of(module), conf, FIRST_DAY)
        baseline = outputs(dr)
        undo()
        figures["seconds"][f"{name}/calm"] = round(time.monotonic() - began, 1)
        assert not (left := leftovers(dr.run_id)), f"{name}: left behind {left}"
        for r in range(1, ROUNDS + 1):
            conf = conf_for(r)
            undo = prepare(name, module, conf)
            before = {s: sum(injected(stack, s).values()) for s in SERVICES}
            for i, service in enumerate(SERVICES):
                faults(stack, service, seed=1000 * r + i, **FAULTY)
            began = time.monotonic()
            figures["runs"] += 1
            try:
                dr = run(dag_of(module), conf, FIRST_DAY + timedelta(days=r))
            finally:
                for service in SERVICES:
                    faults(stack, service, **CALM)
                undo()
            figures["seconds"][f"{name}/faults-{r}"] = round(time.monotonic() - began, 1)
            for service in SERVICES:
                figures["faults"][service] = (
                    figures["faults"].get(service, 0)
                    + sum(injected(stack, service).values())
                    - before[service]
                )
            assert outputs(dr) == baseline, f"{name}: outputs differ from the fault-free run"
            left = leftovers(dr.run_id)
            figures["leftovers"] += len(left)
            assert not left, f"{name}: left behind {left}"
            figures["green"] += 1
    record_property("soak", figures)
    print(f"\nsoak figures: {json.dumps(figures, sort_keys=True)}")
    assert figures["faults"]["storage"] > 0 and figures["faults"]["batch"] > 0  # faults really happened
