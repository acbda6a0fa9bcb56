"""Worker functions the pool tests run (each worker container loads this file by path)."""

from __future__ import annotations

from typing import Any


def square(value: Any) -> Any:
    return {"n": value, "square": value * value}


def fails_on_three(value: Any) -> Any:
    if value == 3:
        raise ValueError(f"three is not allowed (got {value})")
    return value * value
