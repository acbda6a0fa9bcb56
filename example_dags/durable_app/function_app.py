"""Durable Functions app of the Durable + ACI example (seed 004), deployable to Azure as is.

``compute_orchestrator`` plans the work: it splits its input into blocks and publishes the plan in its
``customStatus`` (``{"stage": "dispatch", "blocks": [...]}``). The DAG's worker pool enqueues the blocks
and runs them on Azure Container Instances workers (``worker.py``); each worker raises a ``BlockDone``
event on the orchestration when its block is done. The orchestrator collects one event per block,
reports progress in ``customStatus``, and returns the per-block sums and their total.

Deploy: ``func azure functionapp publish <app>`` from this folder (``requirements.txt``, ``host.json``).
Start with the built-in API, or with ``POST /api/orchestrators/compute_orchestrator`` (HTTP starter).
"""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

EVENT = "BlockDone"


@app.route(route="orchestrators/{functionName}")
@app.durable_client_input(client_name="client")
async def http_start(req, client):
    """``POST /api/orchestrators/{functionName}``: start an orchestration, answer check-status."""
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], client_input=json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def compute_orchestrator(context):
    """Publish the plan of blocks; wait for one ``BlockDone`` event per block."""
    args = context.get_input() or {}
    blocks = int(args.get("blocks", 4))
    size = int(args.get("block_size", 100))
    timeout_s = float(args.get("timeout_s", 3600))
    plan = [
        {"block": i, "start": i * size, "stop": (i + 1) * size, "instance_id": context.instance_id}
        for i in range(blocks)
    ]
    context.set_custom_status({"stage": "dispatch", "blocks": plan})
    deadline = context.current_utc_datetime + timedelta(seconds=timeout_s)
    results = {}
    while len(results) < blocks:
        done = context.wait_for_external_event(EVENT)
        timer = context.create_timer(deadline)
        winner = yield context.task_any([done, timer])
        if winner is timer:
            raise TimeoutError(f"{blocks - len(results)} block(s) not done in {timeout_s}s")
        timer.cancel()
        event = done.result if isinstance(done.result, dict) else json.loads(done.result)
        results[int(event["block"])] = int(event["sum"])
        context.set_custom_status({"stage": "compute", "done": len(results), "blocks": blocks})
    return {"blocks": blocks, "sums": [results[i] for i in range(blocks)], "total": sum(results.values())}
