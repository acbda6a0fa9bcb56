"""Durable emulator overhead, as ratios measured in one run against direct calls of the same activities.

    python benchmarks/durable_fan_out.py --fan-out 1000 --chain 50

Phases:

* ``fan-out``: ``fan_out_orchestrator`` with ``--fan-out`` ``square_activity`` calls (10 ms each) through
  the emulator process (replay after every batch of completions); baseline: the same calls on a
  16-thread pool (the emulator's activity pool size), no orchestration.
* ``chain``: ``ticking_orchestrator`` with ``--chain`` rounds of (zero timer, activity), i.e. two
  episodes per round; baseline: the same activity calls one after another.

Prints wall times and the ratio emulator / baseline (1.0 = no orchestration overhead).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "tests" / "function_apps" / "durable_patterns.py"


def run_orchestration(durable: dict[str, Any], name: str, body: Any) -> tuple[float, Any]:
    url = f"{durable['url']}/runtime/webhooks/durabletask/orchestrators/{name}?code={durable['key']}&timeout=600"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=700) as response:
        output = json.loads(response.read())
        assert response.status == 200, output
    return time.perf_counter() - started, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fan-out", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=50)
    args = parser.parse_args()

    from airflow_azure_compute.emulator.durable.loader import load_function_apps
    from airflow_azure_compute.testing.stack import run_emulator

    square = load_function_apps([str(APP)]).activity("square_activity")
    assert square is not None

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: square.func(value=i), range(args.fan_out)))
    fan_base = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(args.chain):
        square.func(value=i)
    chain_base = time.perf_counter() - started

    with run_emulator(function_apps=[APP]) as endpoints:
        durable = endpoints["durable"]
        run_orchestration(durable, "chain_orchestrator", ["warm-up"])
        fan_time, fan_out = run_orchestration(durable, "fan_out_orchestrator", {"count": args.fan_out})
        assert fan_out["count"] == args.fan_out
        chain_time, ticks = run_orchestration(
            durable, "ticking_orchestrator", {"ticks": args.chain, "pause_s": 0}
        )
        assert ticks == args.chain

    print(f"{'phase':<10} {'calls':>6} {'emulator s':>11} {'baseline s':>11} {'ratio':>7}")
    print(
        f"{'fan-out':<10} {args.fan_out:>6} {fan_time:>11.2f} {fan_base:>11.2f} {fan_time / fan_base:>7.2f}"
    )
    print(
        f"{'chain':<10} {args.chain:>6} {chain_time:>11.2f} {chain_base:>11.2f} {chain_time / chain_base:>7.2f}"
    )


if __name__ == "__main__":
    main()
