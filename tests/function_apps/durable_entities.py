# mypy: allow-untyped-defs
"""A Durable Functions app with entities and durable HTTP calls (azure-functions-durable v2 model).

It imports nothing from the emulator and deploys to Azure as it is. ``Counter`` keeps
``{"currentValue": n}``; the orchestrators signal and call it, and call HTTP endpoints of this app.
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


# --------------------------------------------------------------------------- entities
@app.entity_trigger(context_name="context")
def Counter(context):
    """Operations ``add`` (input: a number), ``get``, ``reset`` and ``fail`` (raises)."""
    state = context.get_state(lambda: {"currentValue": 0})
    operation = context.operation_name.lower()
    if operation == "add":
        state["currentValue"] += context.get_input()
    elif operation == "reset":
        state["currentValue"] = 0
    elif operation == "get":
        context.set_result(state["currentValue"])
    elif operation == "fail":
        raise ValueError("the counter refuses this operation")
    context.set_state(state)


@app.entity_trigger(context_name="context")
def Device(context):
    """A switch: operations ``on`` and ``off``; any other operation leaves it as it is."""
    state = context.get_state(lambda: {"on": False})
    if context.operation_name.lower() in ("on", "off"):
        state["on"] = context.operation_name.lower() == "on"
    context.set_state(state)


# --------------------------------------------------------------------------- orchestrators
@app.orchestration_trigger(context_name="context")
def entity_orchestrator(context):
    """Signal ``add 3``, call ``add 4``, call ``get``, then call ``fail`` and catch the error."""
    counter = df.EntityId("Counter", context.get_input()["key"])
    context.signal_entity(counter, "add", 3)
    yield context.call_entity(counter, "add", 4)
    value = yield context.call_entity(counter, "get")
    try:
        yield context.call_entity(counter, "fail")
        failure = None
    except Exception as exc:
        failure = str(exc)
    return {"value": value, "failure": failure}


@app.orchestration_trigger(context_name="context")
def http_call_orchestrator(context):
    """``call_http`` GET of the input's ``url``: status code and the JSON content."""
    response = yield context.call_http("GET", context.get_input()["url"])
    return {"status": response["statusCode"], "content": json.loads(response["content"] or "null")}


# --------------------------------------------------------------------------- HTTP endpoints it calls
@app.route(route="echo/{value}", auth_level=func.AuthLevel.ANONYMOUS)
def echo(req):
    return func.HttpResponse(json.dumps({"value": req.route_params["value"]}), mimetype="application/json")


@app.route(route="accepted/{value}", auth_level=func.AuthLevel.ANONYMOUS)
def accepted(req):
    """The asynchronous pattern: 202 with a ``Location`` to poll (here, the echo of the same value)."""
    location = req.url.replace("/accepted/", "/echo/")
    return func.HttpResponse(status_code=202, headers={"Location": location, "Retry-After": "0"})
