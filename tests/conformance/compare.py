"""Structural comparison of an emulator answer with a published example answer.

The example fixes the shape, not the values: every field the example shows must be present with
the same JSON type, and a string that differs from the example only by letter case is a casing
divergence (enum values are case-sensitive for the SDKs). Values themselves (ids, times, counts)
differ between any two real answers and are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Casing Azure really sends where its published examples differ (recorded service traffic, e.g. the
#: azure-batch test-proxy recordings: ``taskSchedulingPolicy.nodeFillType`` is ``Spread``/``Pack``).
REAL_TRAFFIC_CASING: Mapping[str, Mapping[str, str]] = {
    "taskSchedulingPolicy.nodeFillType": {"spread": "Spread", "pack": "Pack"},
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _key_of(item: Any) -> Any:
    if isinstance(item, dict):
        for name in ("id", "taskId", "name", "poolId", "instanceId"):
            if isinstance(item.get(name), str):
                return item[name].lower()
        entity = item.get("entityId")
        if isinstance(entity, dict):
            return (str(entity.get("name")).lower(), str(entity.get("key")).lower())
    return None


def _expected_string(path: str, value: str) -> str:
    for suffix, overrides in REAL_TRAFFIC_CASING.items():
        if path.endswith(suffix) and value.lower() in overrides:
            return overrides[value.lower()]
    return value


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Divergences of ``actual`` from the shape of ``expected`` (empty when it conforms)."""
    where = path or "<body>"
    if expected is None:
        return []
    if json_type(expected) != json_type(actual):
        return [f"{where}: expected {json_type(expected)}, got {json_type(actual)}"]
    if isinstance(expected, str):
        wanted = _expected_string(path, expected)
        if wanted != actual and wanted.lower() == actual.lower():
            return [f"{where}: casing {actual!r}, Azure sends {wanted!r}"]
        return []
    if isinstance(expected, dict):
        problems: list[str] = []
        for key, value in expected.items():
            child = f"{path}.{key}" if path else key
            if key not in actual:
                problems.append(f"{child}: missing")
            else:
                problems += diff(value, actual[key], child)
        return problems
    if isinstance(expected, list):
        return _diff_list(expected, actual, where, path)
    return []


def _diff_list(expected: list[Any], actual: list[Any], where: str, path: str) -> list[str]:
    if expected and not actual:
        return [f"{where}: empty, the example has {len(expected)} item(s)"]
    problems: list[str] = []
    by_key = {_key_of(item): item for item in actual if _key_of(item) is not None}
    for index, item in enumerate(expected):
        key = _key_of(item)
        # example ids that stand for the service's own (node ids, file names) match by position
        other = by_key[key] if key is not None and key in by_key else actual[min(index, len(actual) - 1)]
        problems += diff(item, other, f"{path}[]")
    return sorted(set(problems))


def header_diff(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """Headers of ``expected`` missing from ``actual`` (names compared case-insensitively)."""
    have = {name.lower() for name in actual}
    return [f"header {name}: missing" for name in expected if name.lower() not in have]
