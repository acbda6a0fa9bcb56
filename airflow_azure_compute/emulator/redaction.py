"""Secrets out of emulator answers: the response body of a stored resource, built without them.

The emulators keep request bodies as received (they need the secrets: a Batch blob mount syncs
through its ``sasKey``, a container gets its ``secureValue``) and answer from a copy passed through
`SecretFields.scrub`. Each emulator lists its secret properties once, as key paths matched against the
end of a property's path in the body, list indices skipped, so ``("containerSettings", "registry",
"password")`` removes that password from a task, a pool's start task and a job's auto pool alike. A rule drops the property (`DROP`) or answers it with a fixed
value where Azure does (ACI shows a secret volume as ``{}``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: The rule action that leaves the property out of the answer.
DROP: Any = _Drop()


class SecretFields:
    """An emulator's secret properties: key paths matched at the end of a property's key path (list
    indices skipped), each with what the answer shows instead (`DROP`: nothing)."""

    def __init__(self, rules: Mapping[tuple[str, ...], Any]) -> None:
        self.rules = dict(rules)
        self._by_key: dict[str, list[tuple[tuple[str, ...], Any]]] = {}
        for path, action in self.rules.items():
            self._by_key.setdefault(path[-1], []).append((path, action))

    def scrub(self, value: Any) -> Any:
        """A copy of ``value`` (JSON: dicts, lists, scalars) without the secrets; ``value`` itself is
        never changed."""
        return self._scrub(value, ())

    def _scrub(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                here = (*path, key)
                action = self._action(here)
                if action is _KEEP:
                    out[key] = self._scrub(item, here)
                elif action is not DROP:
                    out[key] = copy.deepcopy(action)
            return out
        if isinstance(value, list):
            return [self._scrub(item, path) for item in value]
        return value

    def _action(self, path: tuple[str, ...]) -> Any:
        for rule, action in self._by_key.get(path[-1], ()):
            if path[-len(rule) :] == rule:
                return action
        return _KEEP


_KEEP = object()

__all__ = ["DROP", "SecretFields"]
