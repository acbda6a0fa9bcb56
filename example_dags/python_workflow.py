"""Numbered workflow steps as Python functions on one Batch pool, each receiving the previous step's
return value (seed 003, in Python).

What it shows:

* ``@task.azure_batch``: each step is a plain function run on a Batch node; its return value is the
  task's XCom and becomes the next step's argument (TaskFlow passes it; the operator pickles it).
* one pool for every step, reused when it already exists (``if_exists="reuse"``) and left alone by the
  cleanup when this run did not create it.
* ``.expand()``: the last step runs once per variant, each in its own Batch task.
* the function's prints reach the task log; an exception raised on the node fails the task with the
  node's traceback.
* a daily schedule: without a ``pool_id`` in the run config a run makes a pool of its own, and its
  jobs and workspace derive from the dag and run, so runs on different days, or at the same time,
  share nothing and each cleans up only its own.

Trigger it with a run config, e.g. ``{"pool_id": "my-pool", "start": 7}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.ids import derive_id
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator

STEPS = 3
#: The run's pool: the one the run config names (reused if it exists), else one made for this run.
POOL_ID = "{{ params.pool_id or derive_id('pool', dag.dag_id, run_id) }}"


def pool_shape(pool_id: str) -> dict[str, Any]:
    """The shape the workflow expects of the shared pool (a PoolSpec mapping)."""
    return {
        "pool_id": pool_id,
        "vm_size": "standard_d2s_v5",
        "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
        "node_agent_sku_id": "batch.node.ubuntu 22.04",
        "dedicated_nodes": 1,
        "task_slots_per_node": 2,
    }


def advance(step: int, value: int) -> int:
    """What every step computes: the business logic, plain Python."""
    return value * 3 + step


def expected_chain(start: int, steps: int = STEPS) -> int:
    value = start
    for step in range(1, steps + 1):
        value = advance(step, value)
    return value


with DAG(
    dag_id="python_workflow",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    tags=["azure-batch", "example"],
    render_template_as_native_obj=True,  # params.start renders as an int
    user_defined_macros={"derive_id": derive_id},
    params={
        "pool_id": Param(
            None, type=["null", "string"], description="A pool to use (empty: one made for this run)"
        ),
        "start": Param(5, type="integer"),
        "python": Param("python3", type="string", description="Interpreter on the nodes"),
    },
) as dag:
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec=pool_shape(POOL_ID),
        if_exists="reuse",
        min_ready_nodes=1,
    )

    # --8<-- [start:howto_task_azure_batch]
    @task.azure_batch(pool_id=POOL_ID, python="{{ params.python }}", poll_interval=2)
    def step(number: int, value: int) -> int:
        """One numbered step: receives the previous step's return value, returns its own."""
        import platform

        result = advance(number, value)
        print(f"step {number} on {platform.node()}: {value} -> {result}")
        return result

    value: Any = "{{ params.start }}"
    steps = []
    for number in range(1, STEPS + 1):
        value = step.override(task_id=f"step_{number}")(number, value)
        steps.append(value)

    @task.azure_batch(pool_id=POOL_ID, python="{{ params.python }}", poll_interval=2)
    def variant(factor: int, value: int) -> dict[str, int]:
        return {"factor": factor, "value": value * factor}

    variants = variant.partial(value=value).expand(factor=[1, 2, 3])
    # --8<-- [end:howto_task_azure_batch]

    @task
    def check(final: int, variants: list[dict[str, int]], **context: Any) -> int:
        want = expected_chain(int(context["params"]["start"]))
        if final != want or [v["value"] for v in variants] != [want, 2 * want, 3 * want]:
            raise ValueError(f"the chain computed {final} and {variants}, expected {want}")
        return final

    cleanup = BatchCleanupOperator(task_id="cleanup", pool_ids=[POOL_ID])

    done = check(value, variants)
    pool >> steps[0]
    done >> cleanup.as_teardown(setups=[pool])
