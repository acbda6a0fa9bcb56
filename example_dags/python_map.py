"""Map a Python function over inputs on Azure Batch, PyWren style (seed 000).

What it shows:

* a plain Python function and its inputs shipped with cloudpickle (the function by value, the
  cloudpickle package itself as resource files), one Batch task per input;
* a generic runner script (``batch_programs/pymap_runner.py``) that unpickles, calls and pickles the
  result, errors included;
* results collected in input order and returned to XCom.

The nodes' Python must have the same minor version as the workers (pickled code objects); pass its
path in ``params.python``. Trigger it with e.g. ``{"values": [3, 5, 8]}``.
"""

from __future__ import annotations

import pickle
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

PROGRAMS = Path(__file__).resolve().parent / "batch_programs"


def work(n: int) -> dict[str, int]:
    """The function mapped over the inputs (any picklable function works)."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return {"n": n, "square": n * n, "fib": a}


with DAG(
    dag_id="python_map",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["azure-batch", "example"],
    params={
        "values": Param([1, 2, 3, 5, 8, 13], type="array"),
        "pool_id": Param("python-map-pool", type="string"),
        "python": Param(
            "python3", type="string", description="Interpreter on the nodes (same minor version)"
        ),
    },
) as dag:
    # --8<-- [start:howto_batch_python_map_ship]
    @task
    def ship(**context: Any) -> dict[str, Any]:
        """Pickle the function (by value) and each input to Blob, with the runner and cloudpickle."""
        import cloudpickle

        from airflow_azure_compute.hooks.blob import BlobHook
        from airflow_azure_compute.ids import derive_id, run_metadata

        ti = context["ti"]
        container = derive_id("pymap", ti.dag_id.replace("_", "-"), ti.run_id, max_len=63, lower=True)
        hook = BlobHook()
        hook.create_container(container, metadata=run_metadata(context))
        module = sys.modules.get(work.__module__)
        if module is not None:  # the DAG module is not importable on the nodes: pickle it by value
            cloudpickle.register_pickle_by_value(module)
        hook.upload_bytes(container, "runtime/function.pkl", cloudpickle.dumps(work), overwrite=True)
        hook.upload_bytes(
            container, "runtime/pymap_runner.py", (PROGRAMS / "pymap_runner.py").read_bytes(), overwrite=True
        )
        package = Path(cloudpickle.__file__).parent
        for source in sorted(package.glob("*.py")):
            hook.upload_bytes(
                container, f"runtime/cloudpickle/{source.name}", source.read_bytes(), overwrite=True
            )
        inputs = []
        for i, value in enumerate(context["params"]["values"]):
            name = f"inputs/input-{i:05d}.pkl"
            hook.upload_bytes(container, name, pickle.dumps(value), overwrite=True)
            inputs.append(name)
        return {"container": container, "inputs": inputs}

    # --8<-- [end:howto_batch_python_map_ship]
    shipped = ship()

    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            "pool_id": "{{ params.pool_id }}",
            "vm_size": "standard_d2s_v5",
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": 2,
            "task_slots_per_node": 2,
        },
        min_ready_nodes=1,
    )

    # --8<-- [start:howto_batch_python_map_fanout]
    calls = BatchRunTasksOperator(
        task_id="calls",
        job={"pool_id": "{{ params.pool_id }}"},
        items=shipped["inputs"],
        command_line="{{ params.python }} runtime/pymap_runner.py runtime/function.pkl {chunk_file} out/{chunk_stem}.pkl",
        input_container=shipped["container"],
        common_prefixes=["runtime/"],
        output_container=shipped["container"],
        output_prefix="outputs/",
        output_pattern="out/*.pkl",
    )
    # --8<-- [end:howto_batch_python_map_fanout]

    wait = BatchJobSensor(
        task_id="wait",
        job_id=calls.output["job_id"],
        task_id_prefix=calls.output["task_id_prefix"],
        expected_tasks=calls.output["task_count"],
        owns_job=calls.output["owns_job"],
        failure_policy="run_all",
        poke_interval=2,
    )

    @task
    def collect(shipped: dict[str, Any], fanout: dict[str, Any]) -> list[Any]:
        """Unpickle each task's result in input order; a remote exception fails the task."""
        from airflow_azure_compute.hooks.blob import BlobHook
        from airflow_azure_compute.specs import task_id_for

        hook = BlobHook()
        results = []
        for i in range(fanout["task_count"]):
            task_id = task_id_for(fanout["task_id_prefix"], i, fanout["task_count"])
            blob = f"{fanout['output_prefix']}{task_id}/input-{i:05d}.pkl"
            outcome = pickle.loads(hook.read_bytes(shipped["container"], blob))
            if not outcome["ok"]:
                raise RuntimeError(f"input {i} raised {outcome['error']}:\n{outcome['traceback']}")
            results.append(outcome["value"])
        return results

    cleanup = BatchCleanupOperator(
        task_id="cleanup",
        fanout_task_ids=["calls"],
        pool_ids=["{{ params.pool_id }}"],
        containers=[shipped["container"]],
    )

    results = collect(shipped, calls.output)
    [pool] >> calls >> wait >> results
    results >> cleanup.as_teardown(setups=[pool])
