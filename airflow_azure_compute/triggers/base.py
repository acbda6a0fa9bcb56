"""`SerializableTrigger`: a trigger whose ``serialize()`` is its constructor's keyword arguments.

Airflow rebuilds a trigger in the triggerer as ``cls(**kwargs)`` from what ``serialize()`` returned. A
trigger that stores each keyword argument under an attribute of the same name (converted as it likes)
can therefore serialize itself by reading those attributes back, instead of listing its fields a second
time. Values are turned into primitives on the way: an enum gives its value, an object with
``to_dict()`` (a plan, a layout) that dict, and a mapping its items, each converted the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from enum import Enum
from typing import Any

from airflow.triggers.base import BaseTrigger


class SerializableTrigger(BaseTrigger):
    """Serializes the keyword-only arguments of its constructor, read from the attributes of the same names.

    A constructor that passes ``**kwargs`` up to its parent's adds the parent's keyword-only arguments,
    and so on up the classes; the subclass's constructor must accept back every value it serializes.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {
            name: to_primitive(getattr(self, name)) for name in constructor_keywords(cls)
        }


@functools.cache
def constructor_parameters(cls: type[SerializableTrigger]) -> tuple[inspect.Parameter, ...]:
    """The keyword-only parameters of ``cls(...)``, following ``**kwargs`` up to the parents' constructors."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is SerializableTrigger:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        found.update({p.name: p for p in params if p.kind is p.KEYWORD_ONLY and p.name not in found})
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return tuple(found.values())


def constructor_keywords(cls: type[SerializableTrigger]) -> tuple[str, ...]:
    """The names of `constructor_parameters`: what ``serialize()`` returns."""
    return tuple(p.name for p in constructor_parameters(cls))


def to_primitive(value: Any) -> Any:
    """``value`` as the triggerer stores it: enums by value, ``to_dict()`` objects and mappings as dicts."""
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {key: to_primitive(item) for key, item in value.items()}
    return value


__all__ = ["SerializableTrigger", "constructor_keywords", "constructor_parameters", "to_primitive"]
