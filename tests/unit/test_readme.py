"""The README's DAG is real: it is the ``count_words`` example verbatim, and it builds under Airflow."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = ROOT / "example_dags" / "count_words.py"


def _readme_dag() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "@dag" in b]
    return code


def test_the_readme_dag_is_the_runnable_example() -> None:
    assert _readme_dag() in EXAMPLE.read_text()


def test_the_readme_dag_builds() -> None:
    namespace: dict[str, object] = {"__file__": str(EXAMPLE)}
    exec(compile(_readme_dag(), "README.md", "exec"), namespace)
    dag = namespace["count_words"]()  # type: ignore[operator]
    assert {t.task_id for t in dag.tasks} == {
        "split", "program", "pool", "fanout", "wait", "merge", "total", "cleanup"
    }  # fmt: skip
    assert dag.get_task("cleanup").is_teardown
    assert dag.timetable.expression == "0 0 * * *" and dag.max_active_runs == 2
