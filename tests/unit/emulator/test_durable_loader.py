"""Loading function apps: files and dotted modules, DFApp / FunctionApp / Blueprint, name rules."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from airflow_azure_compute.emulator.durable.loader import load_function_apps

FUNCTION_APP = """
import azure.durable_functions as df
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
bp = df.Blueprint()

@app.function_name("RenamedOrchestrator")
@app.orchestration_trigger(context_name="context")
def orchestrator(context):
    value = yield context.call_activity("Double", 21)
    return value

@bp.activity_trigger(input_name="v", activity="Double")
def double_it(v):
    return v * 2

@app.route(route="start/{name}/{id?}")
def start(req):
    return "ok"

app.register_functions(bp)
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def test_function_app_with_blueprint_from_a_file(tmp_path: Path) -> None:
    index = load_function_apps([str(write(tmp_path, "function_app.py", FUNCTION_APP))])
    assert set(index.orchestrators) == {"renamedorchestrator"}
    orchestrator = index.orchestrator("RENAMEDORCHESTRATOR")
    assert orchestrator is not None and orchestrator.name == "RenamedOrchestrator"
    activity = index.activity("double")
    assert activity is not None and activity.input_name == "v" and activity.func(v=2) == 4
    (http,) = index.http
    assert (http.route, http.anonymous, http.client_name) == ("start/{name}/{id?}", True, None)


def test_dotted_module_and_repeated_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "my_durable_app.py", FUNCTION_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        first = load_function_apps(["my_durable_app"])
        again = load_function_apps(["my_durable_app", "my_durable_app"])  # same app indexed once per load
        assert set(first.activities) == set(again.activities) == {"double"}
    finally:
        sys.modules.pop("my_durable_app", None)


def test_duplicate_names_across_apps_are_refused(tmp_path: Path) -> None:
    one = write(tmp_path, "one.py", FUNCTION_APP)
    two = write(tmp_path, "two.py", FUNCTION_APP)
    with pytest.raises(ValueError, match="defined twice"):
        load_function_apps([str(one), str(two)])


def test_a_module_without_an_app_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no DFApp"):
        load_function_apps([str(write(tmp_path, "empty.py", "x = 1\n"))])
    with pytest.raises(FileNotFoundError):
        load_function_apps([str(tmp_path / "missing.py")])
