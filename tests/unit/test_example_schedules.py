"""Every example DAG runs on a schedule, and what a scheduled run names is its own.

Scheduled runs take the params' defaults, so a default that named a shared resource would make runs
on different days, or overlapping ones, collide; the examples with a ``pool_id`` param default to a
pool made for the run, named from the dag and run.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_FILES = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
#: Batch pool ids: letters, digits, hyphens and underscores, at most 64 characters.
POOL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_schedules_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dag(module: ModuleType) -> Any:
    return module.count_words() if hasattr(module, "count_words") else module.dag


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_every_example_runs_on_a_schedule(path: Path) -> None:
    dag = _dag(_module(path))
    assert dag.timetable.can_be_scheduled, f"{dag.dag_id} has no schedule"
    assert dag.catchup is False, f"{dag.dag_id} would backfill every day since its start date"


@pytest.mark.parametrize("name", ["python_map", "python_workflow"])
def test_each_run_gets_its_own_pool_unless_the_config_names_one(name: str) -> None:
    module = _module(EXAMPLES / f"{name}.py")
    dag = _dag(module)
    template = dag.get_template_env().from_string(module.POOL_ID)

    def pool(run_id: str, pool_id: str | None = None) -> str:
        return template.render(params={"pool_id": pool_id}, dag=dag, run_id=run_id)

    first, second = pool("scheduled__2026-01-01T00:00:00+00:00"), pool("scheduled__2026-01-02T00:00:00+00:00")
    assert first != second
    assert POOL_ID.match(first) and POOL_ID.match(second), (first, second)
    assert pool("scheduled__2026-01-01T00:00:00+00:00") == first  # a retry finds its run's pool
    assert pool("any", "my-pool") == "my-pool"
