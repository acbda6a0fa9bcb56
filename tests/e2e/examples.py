"""Loading and running the example DAGs with ``dag.test()``: shared by their end-to-end tests and the soak."""

from __future__ import annotations

import importlib.util
import shutil
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
#: Folders of files the examples ship to the nodes, next to the DAG files.
PROGRAMS = ("batch_programs", "hpc_programs")


def load(name: str, dags_folder: Path, *, module_prefix: str = "example") -> ModuleType:
    """Copy the example (and its programs) into the DAGs folder, where dag.test() serializes it from, and
    import it from there."""
    shutil.copy(EXAMPLES / f"{name}.py", dags_folder / f"{name}.py")
    for programs in PROGRAMS:
        shutil.copytree(EXAMPLES / programs, dags_folder / programs, dirs_exist_ok=True)
    spec = importlib.util.spec_from_file_location(f"{module_prefix}_{name}", dags_folder / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(dag: Any, conf: dict[str, Any], logical_date: datetime | None = None) -> Any:
    """``dag.test()`` with ``conf`` (on ``logical_date``); the run must succeed."""
    dr = dag.test(run_conf=conf, logical_date=logical_date)
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert dr.state == "success", states
    return dr


def xcom(dr: Any, task_id: str) -> Any:
    """The return value of ``task_id`` in the run."""
    ti = next(t for t in dr.get_task_instances() if t.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id)


__all__ = ["EXAMPLES", "load", "run", "xcom"]
