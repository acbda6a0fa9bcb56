"""The README's DAG is real: it builds under Airflow with the operators as documented."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_dag_builds() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "@dag" in b]
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    dag = namespace["count_words"]()  # type: ignore[operator]
    assert {t.task_id for t in dag.tasks} == {"split", "pool", "fanout", "wait", "merge", "cleanup"}
    assert dag.get_task("cleanup").is_teardown
