"""A Batch task that talks for a few seconds while a deferred sensor streams its output into the log.

``fanout`` submits one task that prints a numbered line every 0.5 s (and a few lines to stderr);
``wait`` defers to the triggerer with ``stream_output=[0]`` naming that task (the fan-out's first), so its lines appear in the
task log while it runs. The task talks for 15 s: a trigger that fires seconds after its deferral can meet
Airflow 3.3's resume race on a busy machine (the scheduler, late to read the worker's exit at deferral,
finds the resumed task queued and fails it as killed externally).
"""

from __future__ import annotations

from airflow.sdk import DAG
from harness_parts import POOL, PYTHON, ensure_pool, fanout_job, on_pool

from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.sensors.batch import BatchJobSensor

LINES = 30
PROGRAM = (
    "import sys, time; [(print('talk %03d' % i, flush=True), "
    "i % 10 == 0 and print('warn %03d' % i, file=sys.stderr, flush=True), time.sleep(0.5)) "
    f"for i in range({LINES})]"
)

with DAG(dag_id="live_output", **on_pool("live-output")):
    pool = ensure_pool()
    fanout = BatchRunTasksOperator(
        task_id="fanout",
        job={"pool_id": POOL},
        manifest=[{"name": "talker", "command_line": f'{PYTHON} -c "{PROGRAM}"'}],
    )
    wait = BatchJobSensor(
        task_id="wait",
        **fanout_job(fanout),
        stream_output=[0],
        stream_output_bytes=100,
        deferrable=True,
        poke_interval=1,
    )
    pool >> fanout >> wait
