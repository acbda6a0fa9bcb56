"""Loading function apps of the v1 programming model (``<Function>/function.json`` folders), and the
``defaultVersion`` of an app's host.json."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.emulator.durable.loader import load_function_apps

ORCHESTRATOR = """
import azure.durable_functions as df
from ..shared.names import CITY

def orchestrator_function(context):
    result = yield context.call_activity("Hello", CITY)
    return result

main = df.Orchestrator.create(orchestrator_function)
"""
ACTIVITY = """
def main(name: str) -> str:
    return f"Hello {name}!"
"""
STARTER = """
async def main(req, starter, message):
    message.set(starter)
"""


def function(root: Path, name: str, source: str, bindings: list[dict[str, Any]], **config: Any) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / config.get("scriptFile", "__init__.py")).write_text(textwrap.dedent(source))
    (folder / "function.json").write_text(json.dumps({"bindings": bindings, **config}))


def app(root: Path) -> Path:
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "names.py").write_text('CITY = "Tokyo"\n')
    function(
        root,
        "Sequence",
        ORCHESTRATOR,
        [{"name": "context", "type": "orchestrationTrigger", "direction": "in"}],
    )
    function(root, "Hello", ACTIVITY, [{"name": "name", "type": "activityTrigger", "direction": "in"}])
    function(
        root,
        "HttpStart",
        STARTER,
        [
            {"name": "req", "type": "httpTrigger", "direction": "in", "route": "go/{x}", "methods": ["post"]},
            {"name": "message", "type": "http", "direction": "out"},
            {"name": "starter", "type": "orchestrationClient", "direction": "in"},
        ],
    )
    return root


def test_a_function_json_app_is_indexed_like_the_worker_does(tmp_path: Path) -> None:
    index = load_function_apps([str(app(tmp_path / "v1app"))])
    assert set(index.orchestrators) == {"sequence"}
    assert index.activity("hello") is not None and index.activity("hello").input_name == "name"
    [http] = index.http
    assert (http.name, http.route, http.methods, http.anonymous) == (
        "HttpStart",
        "go/{x}",
        frozenset({"POST"}),
        False,
    )
    assert (http.request_name, http.client_name, http.output_name) == ("req", "starter", "message")
    # Importing the orchestrator resolved its `..shared` import against the app root.
    assert callable(index.orchestrator("Sequence").handle)
    assert index.default_version == ""


def test_disabled_functions_are_skipped(tmp_path: Path) -> None:
    root = app(tmp_path / "v1app")
    function(
        root, "Off", ACTIVITY, [{"name": "n", "type": "activityTrigger", "direction": "in"}], disabled=True
    )
    assert index_names(root) == {"hello"}


def index_names(root: Path) -> set[str]:
    return set(load_function_apps([str(root)]).activities)


@pytest.mark.parametrize(
    ("bindings", "config", "message"),
    [
        (
            [
                {"name": "n", "type": "activityTrigger", "direction": "in"},
                {"name": "sms", "type": "twilioSms", "direction": "out"},
            ],
            {},
            r"binding 'sms' of type 'twilioSms' is not emulated",
        ),
        (
            [{"name": "n", "type": "blob", "direction": "in"}],
            {},
            r"binding 'n' of type 'blob' is not emulated",
        ),
        ([], {}, "needs exactly one trigger binding"),
        (
            [{"name": "n", "type": "activityTrigger", "direction": "in"}],
            {"entryPoint": "run"},
            "no function 'run'",
        ),
        (
            [{"name": "n", "type": "activityTrigger", "direction": "in"}],
            {"scriptFile": "../elsewhere.py"},
            "is not a .py file of its folder",
        ),
    ],
)
def test_bad_function_json_is_refused_naming_what(
    tmp_path: Path, bindings: list[dict[str, Any]], config: dict[str, Any], message: str
) -> None:
    root = tmp_path / "bad"
    folder = root / "Broken"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(ACTIVITY)
    (folder / "function.json").write_text(json.dumps({"bindings": bindings, **config}))
    with pytest.raises(ValueError, match=message):
        load_function_apps([str(root)])


def test_default_version_comes_from_host_json(tmp_path: Path) -> None:
    settings = {"version": "2.0", "extensions": {"durableTask": {"defaultVersion": "1.0"}}}
    first = app(tmp_path / "first")
    (first / "host.json").write_text(json.dumps(settings))
    assert load_function_apps([str(first)]).default_version == "1.0"

    second = tmp_path / "second"
    second.mkdir()
    (second / "function_app.py").write_text("import azure.durable_functions as df\napp = df.DFApp()\n")
    settings["extensions"]["durableTask"]["defaultVersion"] = "2.0"
    (second / "host.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match=r"defaultVersion '2.0' differs from '1.0'"):
        load_function_apps([str(first), str(second / "function_app.py")])
