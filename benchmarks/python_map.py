"""Map a trivial Python function over N inputs on Batch: packed chunks against one Batch task per input,
with a local process pool as the lower bound.

Run: ``.venv/bin/python benchmarks/python_map.py [--items 10000] [--nodes 2] [--slots 2]``.

Starts Azurite and its own emulator (tasks run as local processes, so the pool's task slots are local
processes too), creates a pool of ``nodes x slots`` task slots and measures, in one run, the time until
all results are back in the Airflow task (``MapResults`` read to the end):

* (map) `BatchMapOperator` over N items, chunk size chosen from the pool (4 Batch tasks per slot);
* (a) the same operator with ``chunk_size=1``: one Batch task per input, as the earlier example did.
  Timed on two smaller samples and extrapolated to N with the fitted line ``fixed + per_task x n``
  (the full run would take many minutes of process starts);
* (b) ``ProcessPoolExecutor(slots).map`` of the same function on this machine: the lower bound.

Prints the speed-up of the map over (a), its per-item overhead over (b) and the peak RSS of this process
(the Airflow task's worker side: pickling, staging, collecting).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_azure_compute.emulator.airflow_env import connection_env
from airflow_azure_compute.testing.stack import run_azurite, run_emulator

POOL = {
    "vm_size": "standard_d2s_v5",
    "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
    "node_agent_sku_id": "batch.node.ubuntu 22.04",
}


def trivial(x: int) -> int:
    return x * x + 1


@dataclass
class BenchTI:
    """The task instance fields the operators read (the benchmark runs them outside a DAG run)."""

    run_id: str
    dag_id: str = "bench_python_map"
    task_id: str = "map"
    map_index: int = -1
    try_number: int = 1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def wait_for_nodes(pool_id: str, count: int) -> None:
    from airflow_azure_compute.hooks.batch import BatchHook

    hook = BatchHook()
    deadline = time.monotonic() + 120
    while sum(s == "idle" for s in hook.list_node_states(pool_id)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pool {pool_id}: nodes not idle")
        time.sleep(0.2)


def timed_map(pool_id: str, items: list[int], run_id: str, chunk_size: int | None) -> float:
    """Seconds from the operator's start until every result is read back."""
    from airflow_azure_compute.operators.batch_python import BatchMapOperator
    from airflow_azure_compute.python_results import MapResults

    ti = BenchTI(run_id=run_id)
    op = BatchMapOperator(
        task_id="map", python_callable=trivial, items=items, pool_id=pool_id, chunk_size=chunk_size,
        deferrable=False, poll_interval=0.25, max_xcom_bytes=64 * 1024,
    )  # fmt: skip
    start = time.perf_counter()
    value = op.execute({"ti": ti, "task_instance": ti, "dag_run": None})
    results = list(MapResults.from_xcom(value))
    elapsed = time.perf_counter() - start
    assert results == [trivial(x) for x in items], "wrong results"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--samples", type=int, nargs=2, default=(100, 300))
    args = parser.parse_args()
    slots = args.nodes * args.slots
    items = list(range(args.items))

    with run_azurite() as azurite, run_emulator() as endpoints:
        os.environ.update(connection_env(endpoints, azurite))
        from airflow_azure_compute.hooks.batch import BatchHook
        from airflow_azure_compute.specs import PoolSpec

        pool_id = "bench-python-map"
        spec = {**POOL, "pool_id": pool_id, "dedicated_nodes": args.nodes, "task_slots_per_node": args.slots}
        BatchHook().create_pool(PoolSpec.coerce(spec).to_wire())
        wait_for_nodes(pool_id, args.nodes)

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mapped = timed_map(pool_id, items, "bench-map", None)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        small, large = args.samples
        t_small = timed_map(pool_id, items[:small], "bench-one-small", 1)
        t_large = timed_map(pool_id, items[:large], "bench-one-large", 1)
        per_task = (t_large - t_small) / (large - small)
        fixed = t_small - per_task * small
        one_each = fixed + per_task * args.items

    start = time.perf_counter()
    with ProcessPoolExecutor(slots) as pool:
        local = list(pool.map(trivial, items, chunksize=max(1, args.items // (slots * 4))))
    local_s = time.perf_counter() - start
    assert local == [trivial(x) for x in items]

    print(f"items: {args.items}, pool: {args.nodes} node(s) x {args.slots} slot(s) (local processes)")
    print(f"BatchMapOperator (chunked):      {mapped:8.2f} s")
    print(
        f"(a) one Batch task per input:    {one_each:8.2f} s  (fitted on {small} and {large} inputs: "
        f"{t_small:.2f} s, {t_large:.2f} s -> {fixed:.2f} s + {per_task * 1000:.0f} ms/input)"
    )
    print(f"(b) local ProcessPoolExecutor:   {local_s:8.2f} s")
    print(f"speed-up over (a): {one_each / mapped:.0f}x (target >= 20x)")
    print(f"overhead over (b): {(mapped - local_s) / args.items * 1e6:.0f} us per item")
    print(f"peak RSS of the Airflow task process: {rss_after:.0f} MB (before the map: {rss_before:.0f} MB)")


if __name__ == "__main__":
    main()
