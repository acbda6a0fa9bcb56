"""Durable Functions app of the Durable + ACI example (seed 004), deployable to Azure as is.

``compute_orchestrator`` splits its input into blocks and fans them out: one ``enqueue_block`` activity
per block writes the block to Blob storage and puts a message naming it on a Storage queue. Workers
(``worker.py``, run as Azure Container Instances) take messages off the queue, compute, write the
result next to the input and raise a ``BlockDone`` event on the orchestration. The orchestrator
collects one event per block, reports progress in ``customStatus``, and returns the result blobs.

App settings: ``AzureWebJobsStorage`` (the storage account of the work, as a connection string).
Deploy: ``func azure functionapp publish <app>`` from this folder (``requirements.txt``, ``host.json``).
Start with the built-in API, or with ``POST /api/orchestrators/compute_orchestrator`` (HTTP starter).
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

EVENT = "BlockDone"


def _storage() -> str:
    return os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the Functions app setting name


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
    """Fan blocks out through Blob + queue; wait for one ``BlockDone`` event per block."""
    args = context.get_input() or {}
    blocks = int(args.get("blocks", 4))
    size = int(args.get("block_size", 100))
    timeout_s = float(args.get("timeout_s", 3600))
    work = {
        "container": args.get("container", "work"),
        "queue": args.get("queue", "work-items"),
        "prefix": f"{context.instance_id}/",
    }
    enqueued = [
        context.call_activity(
            "enqueue_block", {**work, "block": i, "numbers": list(range(i * size, (i + 1) * size))}
        )
        for i in range(blocks)
    ]
    inputs = yield context.task_all(enqueued)
    context.set_custom_status({"enqueued": len(inputs), "done": 0})
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
        results[int(event["block"])] = event
        context.set_custom_status({"enqueued": blocks, "done": len(results)})
    return {
        "container": work["container"],
        "blocks": blocks,
        "outputs": [results[i]["output"] for i in sorted(results)],
        "total": sum(int(results[i]["sum"]) for i in results),
    }


@app.activity_trigger(input_name="block")
def enqueue_block(block):
    """Write one block to Blob storage and queue a message naming it; returns the blob name."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueClient

    name = f"{block['prefix']}input/{block['block']:05d}.json"
    blobs = BlobServiceClient.from_connection_string(_storage())
    container = blobs.get_container_client(block["container"])
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    container.upload_blob(name, json.dumps(block["numbers"]), overwrite=True)
    queue = QueueClient.from_connection_string(_storage(), block["queue"])
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    instance_id = block["prefix"].rstrip("/")
    queue.send_message(json.dumps({"instance_id": instance_id, "block": block["block"], "blob": name}))
    return name
