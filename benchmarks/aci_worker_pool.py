"""Worker pool throughput: N Container Instances workers on a Storage queue vs the same code run locally.

    python benchmarks/aci_worker_pool.py --items 1000 --workers 4 8 16

For each worker count N, in one run against Azurite and the ACI emulator (workers are local processes):

* ``local``: the handler over every item in a ``multiprocessing`` pool of N processes (no queue, no blobs).
* ``queue``: the provider's queue worker (``airflow_azure_compute.runtime.queue_worker``) run as N local
  processes against Azurite's queue and blobs: the queue round trip without Container Instances.
* ``pool``: :class:`ContainerInstancesWorkerPoolOperator` end to end (non-deferrable): stage the items,
  enqueue, start N worker groups through the ACI emulator, wait, read the results back, clean up.

Prints items/s per phase, ``pool``/``local`` and ``queue``/``local`` ratios, the scaling of ``pool``
from the smallest N, and the per-item overhead of the queue round trip:
``(1/queue_rate - 1/local_rate) * N`` seconds of worker time per item.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HANDLER = '''
def work(value):
    """A small item: about a millisecond of arithmetic."""
    return {"n": value, "s": sum(i * i for i in range(value % 97, 20000))}
'''


_handler: Any = None


def _load(spec: str) -> None:
    from airflow_azure_compute.runtime.queue_worker import load_handler

    global _handler
    _handler = load_handler(spec)


def _call(value: int) -> Any:
    return _handler(value)


def _local(items: list[int], workers: int, handler_file: Path) -> float:
    """The handler over every item in N processes (loaded as the queue worker loads it)."""
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_load, initargs=(f"{handler_file}:work",)) as pool:
        pool.map(_call, items[:workers])  # warm: every process has loaded the handler
        started = time.perf_counter()
        pool.map(_call, items, chunksize=1)
        return time.perf_counter() - started


def _queue(items: list[int], workers: int, handler_file: Path, tag: str) -> float:
    """The queue worker as N local processes, fed by the same staging the operator does."""
    from airflow.sdk import BaseHook

    from airflow_azure_compute.hooks.aci_groups import SecretRef
    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.hooks.secret_refs import secret_value
    from airflow_azure_compute.hooks.storage_queue import StorageQueueHook
    from airflow_azure_compute.hooks.worker_pools import PoolLayout, WorkerSettings, item_blob

    blob, queue = BlobHook(), StorageQueueHook()
    layout = PoolLayout(queue=f"bench-{tag}", container=f"bench-{tag}", output_container=f"bench-{tag}-out",
                        prefix="p/", total=len(items))  # fmt: skip
    for container in (layout.container, layout.output_container):
        blob.create_container(container)
    for i, value in enumerate(items):
        blob.upload_bytes(
            layout.container, item_blob(layout.prefix, i), json.dumps(value).encode(), overwrite=True
        )
    queue.create_queue(layout.queue)
    queue.send_messages(
        layout.queue,
        (json.dumps({"item": i, "blob": item_blob(layout.prefix, i)}) for i in range(len(items))),
    )
    conn = BaseHook.get_connection("azure_compute_blob_default")
    env = {**os.environ, **{k: v for k, v in WorkerSettings(idle_s=1.0).environment(layout).items()}}
    for var, source, target in (("AZ_POOL_QUEUE_URL", "queue_sas", layout.queue),
                                ("AZ_POOL_INPUT_URL", "container_read", layout.container),
                                ("AZ_POOL_OUTPUT_URL", "container_write", layout.output_container)):  # fmt: skip
        env[var] = str(secret_value(SecretRef((), "c", target, "f", var, source=source), conn))
    command = [sys.executable, "-m", "airflow_azure_compute.runtime.queue_worker", f"{handler_file}:work"]
    started = time.perf_counter()
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(workers)]
    while sum(1 for _ in blob.list_blobs(layout.output_container, layout.prefix)) < len(items):
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.wait(timeout=60)
    queue.delete_queue(layout.queue)
    for container in (layout.container, layout.output_container):
        blob.delete_container(container)
    return elapsed


def _pool(items: list[int], workers: int, handler_file: Path, tag: str) -> float:
    from dataclasses import dataclass, field

    from airflow_azure_compute.operators.worker_pool import ContainerInstancesWorkerPoolOperator

    @dataclass
    class TI:
        dag_id: str = "bench"
        run_id: str = f"bench-{tag}"
        task_id: str = "pool"
        map_index: int = -1
        xcom: dict[str, Any] = field(default_factory=dict)

    op = ContainerInstancesWorkerPoolOperator(
        task_id="pool", items=items, image="python:3.11", workers=workers, worker_idle=1.0,
        command=[sys.executable, "-m", "airflow_azure_compute.runtime.queue_worker", f"{handler_file}:work"],
        poll_interval=0.2, deferrable=False,
    )  # fmt: skip
    ti = TI()
    started = time.perf_counter()
    results = op.execute({"ti": ti, "task_instance": ti})
    elapsed = time.perf_counter() - started
    assert len(results) == len(items) and results[0]["n"] == items[0]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 8, 16])
    args = parser.parse_args()

    from airflow_azure_compute.emulator.airflow_env import connection_env
    from airflow_azure_compute.testing.stack import run_azurite, run_emulator

    items = list(range(args.items))
    with tempfile.TemporaryDirectory() as tmp, run_azurite() as azurite, run_emulator() as endpoints:
        handler_file = Path(tmp) / "bench_handler.py"
        handler_file.write_text(HANDLER)
        os.environ.update(connection_env(endpoints, azurite))
        rows = []
        for n in args.workers:
            local = _local(items, n, handler_file)
            queued = _queue(items, n, handler_file, f"q{n}")
            pooled = _pool(items, n, handler_file, f"p{n}")
            rows.append((n, local, queued, pooled))
            print(f"N={n:>2}: local {args.items / local:7.1f} items/s | queue {args.items / queued:7.1f} items/s "
                  f"| pool {args.items / pooled:7.1f} items/s", flush=True)  # fmt: skip
        print()
        print(
            "| workers | local items/s | queue items/s | pool items/s | queue/local | pool/local | pool scaling | queue round trip per item |"
        )
        print("|---|---|---|---|---|---|---|---|")
        base = rows[0][3]
        for n, local, queued, pooled in rows:
            overhead_ms = (queued - local) / args.items * n * 1000
            print(f"| {n} | {args.items / local:.0f} | {args.items / queued:.0f} | {args.items / pooled:.0f} | "
                  f"{local / queued:.2f} | {local / pooled:.2f} | {base / pooled:.2f}x | {overhead_ms:.1f} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
