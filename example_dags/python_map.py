"""Map a Python function over inputs on Azure Batch, PyWren style (seed 000).

What it shows:

* `BatchMapOperator`: a plain Python function mapped
  over a list in one Airflow task. The function and this DAG file travel by value (cloudpickle), several
  inputs per Batch task, one job, one deferred wait; the results come back in input order.
* the results read with `MapResults`, which reads them the
  same way from XCom (small results) or from the run workspace (large ones).
* a teardown that deletes the pool and the run workspace this run created.
* a daily schedule: every name a run creates derives from the dag and run (its pool unless the run
  config names one, its job, its workspace), so runs on different days, or at the same time, share
  nothing and each cleans up only its own.

The nodes need the worker's Python minor version (pickled code); ``params.python`` names the interpreter
on the nodes. Trigger it with e.g. ``{"values": [3, 5, 8]}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.ids import derive_id
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator

#: The run's pool: the one the run config names, else one made for this run (deleted by its cleanup).
POOL_ID = "{{ params.pool_id or derive_id('pool', dag.dag_id, run_id) }}"


def work(n: int) -> dict[str, int]:
    """The function mapped over the inputs (any picklable function works)."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return {"n": n, "square": n * n, "fib": a}


with DAG(
    dag_id="python_map",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    tags=["azure-batch", "example"],
    render_template_as_native_obj=True,  # the values param renders as a list
    user_defined_macros={"derive_id": derive_id},
    params={
        "values": Param([1, 2, 3, 5, 8, 13], type="array"),
        "pool_id": Param(
            None, type=["null", "string"], description="A pool to use (empty: one made for this run)"
        ),
        "python": Param(
            "python3", type="string", description="Interpreter on the nodes (same minor version)"
        ),
    },
) as dag:
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            "pool_id": POOL_ID,
            "vm_size": "standard_d2s_v5",
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": 2,
            "task_slots_per_node": 2,
        },
        min_ready_nodes=1,
    )

    # --8<-- [start:howto_batch_python_map]
    mapped = BatchMapOperator(
        task_id="map",
        python_callable=work,
        items="{{ params['values'] }}",  # params.values would be dict.values
        pool_id=POOL_ID,
        python="{{ params.python }}",
        poll_interval=2,
    )

    @task
    def collect(mapped: dict[str, Any]) -> list[Any]:
        """The results in input order, wherever they were kept."""
        from airflow_azure_compute.python_results import MapResults

        return list(MapResults.from_xcom(mapped))

    # --8<-- [end:howto_batch_python_map]

    cleanup = BatchCleanupOperator(task_id="cleanup", pool_ids=[POOL_ID])

    results = collect(mapped.output)
    pool >> mapped
    results >> cleanup.as_teardown(setups=[pool])
