"""Python functions on Batch, pure parts: the node runner (run as a process here), pickling checks,
package shipping, chunk sizing, results reading and remote tracebacks."""

from __future__ import annotations

import ast
import json
import pickle
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from airflow_azure_compute import python_shipping as ship
from airflow_azure_compute.exceptions import AzureComputeConfigError, RemoteFunctionError
from airflow_azure_compute.operators._batch_python_base import choose_chunk_size, pool_python, pool_slots
from airflow_azure_compute.python_results import (
    ItemError,
    MapResults,
    RemoteTraceback,
    map_xcom,
    rebuild_exception,
    resolve_frames,
    split_outcomes,
)
from airflow_azure_compute.runtime import runner

RUNTIME = Path(runner.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add((node.module or "").split(".")[0])
    return names


def test_the_runner_imports_only_the_standard_library_and_cloudpickle() -> None:
    outside = {n for n in _imports(RUNTIME / "runner.py") if n not in sys.stdlib_module_names}
    assert outside <= {"__future__", "cloudpickle"}, outside


def test_no_runtime_module_imports_airflow() -> None:
    for path in RUNTIME.glob("*.py"):
        assert not _imports(path) & {"airflow", "airflow_azure_compute"}, path


# ------------------------------------------------------------------------------------- runner
def _run(tmp_path: Path, function: Any, payload: bytes, *extra: str, python: str | None = None) -> int:
    """Run the runner as Batch would: in ``wd/`` of a task directory holding ``stdout.txt``."""
    (tmp_path / "stdout.txt").write_text("printed before\n")
    tmp_path = tmp_path / "wd"
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "function.pkl").write_bytes(cloudpickle.dumps(function))
    (tmp_path / "input.pkl").write_bytes(payload)
    argv = [
        sys.executable, str(RUNTIME / "runner.py"), "--python", python or ship.python_minor(),
        "--function", "function.pkl", "--input", "input.pkl", "--out", "out", *extra,
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "AZ_BATCH_TASK_DIR": str(tmp_path.parent)}
    return subprocess.run(argv, cwd=tmp_path, capture_output=True, check=False, env=env).returncode


def _outcomes(tmp_path: Path) -> tuple[int, list[tuple[str, Any]]]:
    body = pickle.loads((tmp_path / "wd" / "out" / "result.pkl").read_bytes())
    return body["start"], body["outcomes"]


def test_the_runner_maps_a_chunk_and_records_each_exception(tmp_path: Path) -> None:
    def inverse(x: int) -> float:
        return 1 / x

    code = _run(tmp_path, inverse, ship.chunk_payload("map", 10, [2, 0, 4]))
    assert code == runner.EXIT_OK
    start, outcomes = _outcomes(tmp_path)
    assert start == 10 and outcomes[0] == ("ok", 0.5) and outcomes[2] == ("ok", 0.25)
    status, record = outcomes[1]
    assert status == "error" and record["type"] == "builtins.ZeroDivisionError"
    assert "return 1 / x" in record["traceback"] or "in inverse" in record["traceback"]
    assert isinstance(pickle.loads(record["exception"]), ZeroDivisionError)


def test_the_runner_calls_with_args_and_kwargs(tmp_path: Path) -> None:
    assert _run(tmp_path, pow, ship.pickle_call([2], {"exp": 10}), "--logs") == runner.EXIT_OK
    assert _outcomes(tmp_path) == (0, [("ok", 1024)])
    assert (tmp_path / "wd" / "out" / "stdout.txt").read_text() == "printed before\n"  # --logs copied it
    assert _run(tmp_path, divmod, ship.pickle_call([17], {})) == runner.EXIT_OK  # the TypeError is a result
    _, [(status, record)] = _outcomes(tmp_path)
    assert status == "error" and record["type"] == "builtins.TypeError"


def test_the_runner_refuses_another_python_minor_before_unpickling(tmp_path: Path) -> None:
    code = _run(tmp_path, len, b"garbage that would not unpickle", python="2.7")
    assert code == runner.EXIT_PYTHON_VERSION
    error = json.loads((tmp_path / "wd" / "out" / runner.ERROR_FILE).read_text())
    assert error["kind"] == "python_version"
    assert f"this node runs Python {ship.python_minor()}" in error["message"]
    assert "pickled on Python 2.7" in error["message"]


def test_the_runner_explains_an_input_it_cannot_load(tmp_path: Path) -> None:
    code = _run(tmp_path, len, b"not a pickle")
    assert code == runner.EXIT_LOAD_FAILED
    error = json.loads((tmp_path / "wd" / "out" / runner.ERROR_FILE).read_text())
    assert error["kind"] == "load" and "could not load the function or its inputs" in error["message"]


def test_an_unpicklable_return_value_becomes_that_items_error(tmp_path: Path) -> None:
    def lock_or_number(x: int) -> Any:
        return threading.Lock() if x else 7

    assert _run(tmp_path, lock_or_number, ship.chunk_payload("map", 0, [0, 1])) == 0
    _, outcomes = _outcomes(tmp_path)
    assert outcomes[0] == ("ok", 7)
    assert outcomes[1][0] == "error" and "cannot be pickled" in outcomes[1][1]["message"]


# ----------------------------------------------------------------------------------- shipping
def test_an_unpicklable_argument_is_named_by_its_path() -> None:
    with pytest.raises(
        AzureComputeConfigError, match=r"argument 'rows' -> \[1\] -> \.lock cannot be pickled"
    ):

        class Holder:
            def __init__(self) -> None:
                self.lock = threading.Lock()

        ship.pickle_value([1, Holder()], "argument 'rows'", field="op_kwargs")


def test_an_unpicklable_function_names_what_it_holds() -> None:
    guard = threading.Lock()

    def guarded(x: int) -> int:
        with guard:
            return x

    with pytest.raises(AzureComputeConfigError, match=r"function '.*guarded' -> closure variable 'guard'"):
        ship.pickle_function(guarded)
    with pytest.raises(AzureComputeConfigError, match="is not callable"):
        ship.pickle_function(42)  # type: ignore[arg-type]


def test_a_closure_over_a_hook_or_a_connection_is_refused() -> None:
    from airflow.sdk import Connection

    from airflow_azure_compute.hooks.blob import BlobHook

    hook = BlobHook("any")

    def uses_hook() -> Any:
        return hook

    with pytest.raises(AzureComputeConfigError, match=r"closure variable 'hook' is a hook \(BlobHook\)"):
        ship.pickle_function(uses_hook)
    conn = Connection(conn_id="x", conn_type="azure_compute_blob", password="secret")
    with pytest.raises(AzureComputeConfigError, match=r"argument 'c' -> \['conn'\] is a connection") as info:
        ship.pickle_value({"conn": conn}, "argument 'c'", field="op_kwargs")
    assert "secret" not in str(info.value)


def test_the_dag_module_is_pickled_by_value(tmp_path: Path) -> None:
    module_file = tmp_path / "my_dag_file.py"
    module_file.write_text("FACTOR = 3\n\ndef triple(x):\n    return FACTOR * x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import my_dag_file  # type: ignore[import-not-found]

        modules = ship.by_value_modules(my_dag_file.triple)
        assert modules == [my_dag_file]
        data = ship.pickle_function(my_dag_file.triple, modules=modules)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_dag_file", None)
    probe = "import pickle, sys; f = pickle.loads(sys.stdin.buffer.read()); print(f(5))"
    out = subprocess.run([sys.executable, "-c", probe], input=data, capture_output=True, check=True)
    assert out.stdout.strip() == b"15"  # loads where the module does not exist
    assert ship.by_value_modules(json.dumps) == []  # installed modules travel by reference


def test_pure_packages_are_zipped_and_compiled_ones_refused(tmp_path: Path) -> None:
    package = tmp_path / "purepkg"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 42\n")
    (package / "data.txt").write_text("x")
    compiled = tmp_path / "cpkg"
    compiled.mkdir()
    (compiled / "__init__.py").write_text("")
    (compiled / "_speed.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    sys.path.insert(0, str(tmp_path))
    try:
        archive = ship.zip_packages(["purepkg"])
        with pytest.raises(AzureComputeConfigError, match="compiled extension"):
            ship.zip_packages(["cpkg"])
        with pytest.raises(AzureComputeConfigError, match="'nosuchpkg' is not importable"):
            ship.zip_packages(["nosuchpkg"])
    finally:
        sys.path.remove(str(tmp_path))
    (tmp_path / "deps.zip").write_bytes(archive)
    probe = "import sys; sys.path.insert(0, 'deps.zip'); import purepkg; print(purepkg.VALUE)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, check=True)
    assert out.stdout.strip() == b"42"
    assert ship.zip_packages([]) == ship.zip_packages([])  # deterministic


def test_the_requirements_start_task() -> None:
    from airflow_azure_compute.specs import StartTaskSpec

    spec = StartTaskSpec.coerce(ship.python_start_task(["pandas==2.2.*", "pyarrow"]))
    assert spec.elevated and spec.wait_for_success
    shell, flag, script = shlex.split(spec.command_line)
    assert (shell, flag) == ("/bin/sh", "-c")
    assert script.endswith(
        "python3 -m pip install --quiet --disable-pip-version-check 'pandas==2.2.*' pyarrow"
    )
    with pytest.raises(AzureComputeConfigError, match="requirements"):
        ship.python_start_task("pandas")  # type: ignore[arg-type]
    with pytest.raises(AzureComputeConfigError, match="no pip options"):
        ship.python_start_task(["--index-url=http://x"])


def test_runtime_files_ship_the_runner_and_cloudpickle() -> None:
    files = ship.runtime_files()
    assert files["runner.py"] == (RUNTIME / "runner.py").read_bytes()
    assert "cloudpickle/__init__.py" in files and "cloudpickle/cloudpickle.py" in files


# ------------------------------------------------------------------------------ chunks, pools
@pytest.mark.parametrize(
    ("count", "slots", "size"), [(10_000, 4, 625), (10, 4, 1), (1, 100, 1), (17, 1, 5), (0, 4, 1)]
)
def test_chunk_size_gives_each_slot_about_four_tasks(count: int, slots: int, size: int) -> None:
    assert choose_chunk_size(count, slots) == size


def test_pool_slots_and_python() -> None:
    pool = {
        "targetDedicatedNodes": 2, "targetLowPriorityNodes": 1, "taskSlotsPerNode": 4,
        "metadata": [{"name": "python_version", "value": "3.11"}],
    }  # fmt: skip
    assert pool_slots(pool) == 12 and pool_python(pool) == "3.11"
    assert pool_slots({}) == 1 and pool_python({}) is None


# ---------------------------------------------------------------------------------- results
def test_outcomes_split_into_values_and_errors() -> None:
    record = {"type": "builtins.KeyError", "message": "'k'", "traceback": "Traceback...", "exception": None}
    values, errors = split_outcomes(5, [("ok", 1), ("error", record), ("ok", None)])
    assert values == [1, None, None] and [e.index for e in errors] == [6]
    xcom = map_xcom(3, errors, results=values)
    assert json.dumps(xcom)  # JSON-safe: no pickled exception in XCom
    results = MapResults.from_xcom(xcom)
    assert list(results) == [1, None, None] and results[-3] == 1 and results[1:] == [None, None]
    assert results.error_count == 1 and not results.in_manifest
    with pytest.raises(IndexError):
        results[3]


def test_a_rebuilt_exception_keeps_its_class_and_the_node_traceback() -> None:
    error = ItemError(0, "builtins.ValueError", "bad", "Traceback (node)\nValueError: bad\n",
                      cloudpickle.dumps(ValueError("bad")))  # fmt: skip
    exc = rebuild_exception(error, context="item #0 of 1:")
    assert type(exc) is ValueError and isinstance(exc.__cause__, RemoteTraceback)
    assert "item #0 of 1:\nTraceback (node)" in str(exc.__cause__)
    unknown = rebuild_exception(ItemError(2, "mod.Gone", "lost", "tb", None))
    assert isinstance(unknown, RemoteFunctionError) and unknown.remote_type == "mod.Gone"
    assert "mod.Gone: lost" in str(unknown)


def test_dynamic_frames_point_back_at_the_shipped_source(tmp_path: Path) -> None:
    source = tmp_path / "dag.py"
    source.write_text("def outer():\n    x = 1\n    raise ValueError(x)\n")
    text = 'Traceback:\n  File "<dynamic-code>", line 3, in outer\nValueError: 1\n'
    resolved = resolve_frames(text, [str(source)])
    assert f'  File "{source}", line 3, in outer\n    raise ValueError(x)\n' in resolved
    assert resolve_frames(text, []) == text
    unknown = 'File "<dynamic-code>", line 9, in other\n'
    assert resolve_frames(unknown, [str(source)]) == unknown


# ------------------------------------------------------------------------- decorator, operators
def test_task_azure_batch_is_registered_and_builds_the_operator() -> None:
    from airflow.sdk import DAG, task

    from airflow_azure_compute.operators.batch_python import BatchPythonOperator

    with DAG(dag_id="decorated", schedule=None) as dag:

        @task.azure_batch(pool_id="p", python="python3.11")
        def double(x: int) -> int:
            return 2 * x

        one = double(21)
        double.expand(x=[1, 2, 3])
    op = dag.get_task(one.operator.task_id)
    assert isinstance(op, BatchPythonOperator) and op.custom_operator_name == "@task.azure_batch"
    assert op.op_args == [21] and op.pool_id == "p" and op.python == "python3.11"
    assert {"op_args", "op_kwargs", "pool_id", "python"} <= set(op.template_fields)
    assert op.multiple_outputs is False
    mapped = dag.get_task("double__1")
    assert type(mapped).__name__ == "DecoratedMappedOperator"


def test_map_operator_arguments_are_checked_when_the_dag_is_parsed() -> None:
    from airflow_azure_compute.operators.batch_python import BatchMapOperator

    for bad, field in (({"on_item_error": "ignore"}, "on_item_error"), ({"results": "disk"}, "results"),
                       ({"chunk_size": 0}, "chunk_size")):  # fmt: skip
        with pytest.raises(AzureComputeConfigError, match=field):
            BatchMapOperator(task_id="m", python_callable=len, items=[1], pool_id="p", **bad)
    op = BatchMapOperator(task_id="m", python_callable=len, items="not a list", pool_id="p")
    with pytest.raises(AzureComputeConfigError, match="items must be a list"):
        op.call_items()
