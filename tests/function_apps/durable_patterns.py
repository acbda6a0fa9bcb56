# mypy: allow-untyped-defs
"""A Durable Functions app (azure-functions-durable v2 model) used by the emulator's tests.

It imports nothing from the emulator and deploys to Azure as it is (``function_app.py``). The
trigger parameters carry no annotations: the Python worker reads them, and plain names keep the
module valid for every worker version.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# Attempts seen per key by ``flaky_activity`` (state of this worker process; enough for retries).
_attempts: dict[str, int] = {}
_attempts_lock = threading.Lock()


# --------------------------------------------------------------------------- HTTP starter
@app.route(route="orchestrators/{functionName}")
@app.durable_client_input(client_name="client")
async def http_start(req, client):
    """``POST /api/orchestrators/{functionName}``: start an orchestration, answer check-status."""
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], client_input=json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


# --------------------------------------------------------------------------- orchestrators
@app.orchestration_trigger(context_name="context")
def chain_orchestrator(context):
    """Function chaining: three activities, each fed the previous result."""
    names = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for name in names:
        greeting = yield context.call_activity("hello_activity", name)
        results.append(greeting)
        context.set_custom_status({"done": len(results)})
    return results


@app.orchestration_trigger(context_name="context")
def fan_out_orchestrator(context):
    """Fan-out/fan-in: ``count`` activities in parallel, then their sum."""
    count = int((context.get_input() or {}).get("count", 10))
    tasks = [context.call_activity("square_activity", i) for i in range(count)]
    squares = yield context.task_all(tasks)
    return {"count": len(squares), "sum": sum(squares), "squares": squares}


@app.orchestration_trigger(context_name="context")
def approval_orchestrator(context):
    """Human interaction: an ``Approval`` event races a durable timer of ``timeout_s`` seconds."""
    timeout_s = float((context.get_input() or {}).get("timeout_s", 30))
    deadline = context.current_utc_datetime + timedelta(seconds=timeout_s)
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        result = yield context.call_activity("hello_activity", "approver")
        return {"outcome": "approved", "payload": approval.result, "greeting": result}
    return {"outcome": "timed_out"}


@app.orchestration_trigger(context_name="context")
def retry_orchestrator(context):
    """An activity that fails ``failures`` times, called with ``attempts`` attempts."""
    args = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=int(args.get("interval_ms", 100)),
        max_number_of_attempts=int(args["attempts"]),
    )
    before = yield context.call_activity("hello_activity", "before")
    try:
        value = yield context.call_activity_with_retry("flaky_activity", options, args)
    except Exception as exc:
        return {"before": before, "failed": str(exc).splitlines()[0]}
    after = yield context.call_activity("hello_activity", "after")
    return {"before": before, "value": value, "after": after}


@app.orchestration_trigger(context_name="context")
def ticking_orchestrator(context):
    """Runs ``ticks`` rounds of (timer, activity); long enough to be suspended or terminated."""
    args = context.get_input() or {}
    ticks = int(args.get("ticks", 100))
    pause = float(args.get("pause_s", 0.2))
    done = 0
    for _ in range(ticks):
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=pause))
        yield context.call_activity("square_activity", done)
        done += 1
        context.set_custom_status({"ticks": done})
    return done


@app.orchestration_trigger(context_name="context")
def counter_orchestrator(context):
    """Eternal-style loop with ``continue_as_new`` until ``value`` reaches ``limit``."""
    state = context.get_input()
    value = yield context.call_activity("increment_activity", state["value"])
    if value < state["limit"]:
        context.continue_as_new({"value": value, "limit": state["limit"]})
        return None
    return {"final": value}


@app.orchestration_trigger(context_name="context")
def parent_orchestrator(context):
    """Sub-orchestrations: two chains in parallel, then a fan-out."""
    first = context.call_sub_orchestrator("chain_orchestrator", ["a", "b"])
    second = context.call_sub_orchestrator("chain_orchestrator", ["c"])
    chains = yield context.task_all([first, second])
    fan = yield context.call_sub_orchestrator("fan_out_orchestrator", {"count": 3})
    return {"chains": chains, "fan": fan}


@app.orchestration_trigger(context_name="context")
def sub_retry_orchestrator(context):
    """A failing sub-orchestration retried twice: every attempt is a new child instance."""
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2)
    try:
        yield context.call_sub_orchestrator_with_retry("failing_orchestrator", options)
    except Exception as exc:
        return {"sub_failed": "gave up on purpose" in str(exc)}
    return {"sub_failed": False}


@app.orchestration_trigger(context_name="context")
def failing_orchestrator(context):
    """Raises after one activity: the instance ends Failed with the error as output."""
    yield context.call_activity("hello_activity", "doomed")
    raise ValueError("orchestrator gave up on purpose")


@app.orchestration_trigger(context_name="context")
def activity_failure_orchestrator(context):
    """An activity that always fails, without retry: the orchestrator sees the error."""
    try:
        yield context.call_activity("always_fails", "boom")
    except Exception as exc:
        return {"caught": "always_fails" in str(exc)}
    return {"caught": False}


@app.orchestration_trigger(context_name="context")
def rewind_orchestrator(context):
    """An activity that fails ``failures`` times, called without retry: Failed until rewound."""
    args = context.get_input()
    value = yield context.call_activity("flaky_activity", args)
    return {"attempt": value}


@app.orchestration_trigger(context_name="context")
def durable_http_orchestrator(context):
    """A durable HTTP call to a closed port: the call fails, and so does the orchestration."""
    response = yield context.call_http("GET", "http://127.0.0.1:9/")
    return response["statusCode"]


# --------------------------------------------------------------------------- activities
@app.activity_trigger(input_name="name")
def hello_activity(name):
    return f"Hello {name}!"


@app.activity_trigger(input_name="value")
def square_activity(value):
    time.sleep(0.01)
    return value * value


@app.activity_trigger(input_name="value")
async def increment_activity(value):
    return value + 1


@app.activity_trigger(input_name="args")
def flaky_activity(args):
    """Fails the first ``failures`` calls for ``args["key"]``, then returns the attempt number."""
    with _attempts_lock:
        attempt = _attempts[args["key"]] = _attempts.get(args["key"], 0) + 1
    if attempt <= int(args["failures"]):
        raise RuntimeError(f"flaky attempt {attempt} failed")
    return attempt


@app.activity_trigger(input_name="message")
def always_fails(message):
    raise RuntimeError(f"always_fails: {message}")
