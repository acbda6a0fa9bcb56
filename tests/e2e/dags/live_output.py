"""A Batch task that talks for a few seconds while a deferred sensor streams its output into the log.

``fanout`` submits one task that prints a numbered line every 0.2 s (and a few lines to stderr);
``wait`` defers to the triggerer with ``stream_output=[0]`` naming that task (the fan-out's first), so its lines appear in the
task log while it runs.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

LINES = 30
PROGRAM = (
    "import sys, time; [(print('talk %03d' % i, flush=True), "
    "i % 10 == 0 and print('warn %03d' % i, file=sys.stderr, flush=True), time.sleep(0.2)) "
    f"for i in range({LINES})]"
)

with DAG(
    dag_id="live_output",
    schedule=None,
    catchup=False,
    params={"pool_id": Param("live-output", type="string"), "python": Param("python3", type="string")},
):
    pool = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            "pool_id": "{{ params.pool_id }}",
            "vm_size": "standard_d2s_v5",
            "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
            "node_agent_sku_id": "batch.node.ubuntu 22.04",
            "dedicated_nodes": 1,
        },
        if_exists="reuse",
        min_ready_nodes=1,
        poll_interval=2,
    )
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": "{{ params.pool_id }}"},
        manifest=[{"name": "talker", "command_line": f'{{{{ params.python }}}} -c "{PROGRAM}"'}],
    )
    wait = BatchJobSensor(
        task_id="wait",
        job_id=fanout.output["job_id"],
        task_id_prefix=fanout.output["task_id_prefix"],
        expected_tasks=fanout.output["task_count"],
        owns_job=fanout.output["owns_job"],
        stream_output=[0],
        stream_output_bytes=100,
        deferrable=True,
        poke_interval=1,
    )
    pool >> fanout >> wait
