"""Every example DAG can be triggered from the UI's form with its defaults.

Airflow 3's trigger form (``FlexibleForm``) flags a param as required when its schema has a ``type``
that does not include ``"null"``, and blocks the Trigger button while a required param's value is
``null``, missing or ``""``; an emptied text field is sent as ``null``. The API server then validates
the run config against each param's JSON schema (``Param.resolve``). Both rules are applied here to
each example's serialized params, exactly as the UI receives them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Param

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_FILES = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def form_blocks(schema: dict[str, Any], value: Any) -> bool:
    """The form's rule: a required param (typed, ``null`` not allowed) without a value."""
    types = schema.get("type")
    required = bool(types) and not (isinstance(types, list) and "null" in types)
    return required and value in (None, "")


def _dags(path: Path) -> list[Any]:
    from airflow.sdk import DAG

    spec = importlib.util.spec_from_file_location(f"example_params_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [v for v in vars(module).values() if isinstance(v, DAG)] or [
        f() for f in vars(module).values() if callable(f) and getattr(f, "__name__", "") == path.stem
    ]


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_the_trigger_form_accepts_the_defaults(path: Path) -> None:
    dags = _dags(path)
    assert dags, f"no DAG found in {path.name}"
    for dag in dags:
        for name in dag.params:
            serialized = dag.params.get_param(name).dump()  # what /dags/{id}/details sends the UI
            value, schema = serialized["value"], serialized["schema"]
            assert not form_blocks(schema, value), f"{dag.dag_id}: param {name!r} blocks the form"
            sent = None if value == "" else value  # an empty text field is sent as null
            Param(value, **schema).resolve(value=sent)  # the API server's validation


def test_the_rule_catches_the_old_empty_string_params() -> None:
    blocking = Param("", type="string")
    assert form_blocks(blocking.schema, blocking.value)
    with pytest.raises(Exception, match="None is not of type 'string'"):
        blocking.resolve(value=None)
    fixed = Param(None, type=["null", "string"])
    assert not form_blocks(fixed.schema, fixed.value)
    assert fixed.resolve(value=None) is None
