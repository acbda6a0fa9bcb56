"""OData ``$filter`` and ``$select`` as the Batch list operations use them.

Supported filter grammar: comparisons ``path op literal`` (``eq ne gt ge lt le``) where ``path`` is a
property path such as ``state`` or ``executionInfo/result`` and ``literal`` a quoted string, number,
``true``/``false``/``null`` or ``datetime'...'``; ``startswith(path,'x')``, ``endswith``,
``substringof('x',path)``/``contains(path,'x')``; ``and``, ``or``, ``not`` and parentheses. String
comparisons on enums are case-insensitive, as the service treats them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_azure_compute.emulator.batch.wire import BatchError

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<dt>datetime'[^']*')|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_$][\w/.$]*))"
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"startswith", "endswith", "substringof", "contains"}


def _invalid(text: str, why: str) -> BatchError:
    return BatchError(400, "InvalidQueryParameterValue", f"The $filter {text!r} is not supported: {why}.")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _invalid(text, f"unexpected character at {pos}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def get_path(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _literal(kind: str, raw: str) -> Any:
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    if kind == "dt":
        return raw[len("datetime'") : -1]
    if kind == "num":
        return float(raw) if "." in raw else int(raw)
    return {"true": True, "false": False, "null": None}[raw.lower()]


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise _invalid(self.text, "unexpected end")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise _invalid(self.text, f"expected {value!r}, found {tok[1]!r}")

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise _invalid(self.text, f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while (tok := self.peek()) and tok == ("word", "or"):
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda o: a(o) or b(o))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while (tok := self.peek()) and tok == ("word", "and"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda o: a(o) and b(o))(left, right)
        return left

    def unary(self) -> Predicate:
        tok = self.peek()
        if tok == ("word", "not"):
            self.take()
            inner = self.unary()
            return lambda o: not inner(o)
        if tok == ("punct", "("):
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.atom()

    def operand(self) -> tuple[str, Any]:
        kind, raw = self.take()
        if kind == "word" and raw.lower() not in ("true", "false", "null"):
            return "path", raw
        if kind in ("str", "dt", "num", "word"):
            return "lit", _literal(kind, raw)
        raise _invalid(self.text, f"unexpected {raw!r}")

    def atom(self) -> Predicate:
        kind, raw = self.peek() or ("", "")
        if kind == "word" and raw.lower() in _FUNCS:
            return self.function()
        left = self.operand()
        op_kind, op = self.take()
        if op_kind != "word" or op.lower() not in _OPS:
            raise _invalid(self.text, f"expected a comparison operator, found {op!r}")
        right = self.operand()
        op = op.lower()

        def value(side: tuple[str, Any], obj: Mapping[str, Any]) -> Any:
            return get_path(obj, side[1]) if side[0] == "path" else side[1]

        return lambda o: _compare(op, value(left, o), value(right, o))

    def function(self) -> Predicate:
        name = self.take()[1].lower()
        self.expect("(")
        first = self.operand()
        self.expect(",")
        second = self.operand()
        self.expect(")")
        if name == "substringof":
            first, second = second, first
        path, needle = first, second
        if path[0] != "path" or needle[0] != "lit" or not isinstance(needle[1], str):
            raise _invalid(self.text, f"{name} takes a property and a string")
        prop, text = path[1], needle[1].lower()

        def check(o: Mapping[str, Any]) -> bool:
            value = get_path(o, prop)
            if not isinstance(value, str):
                return False
            value = value.lower()
            if name == "startswith":
                return value.startswith(text)
            if name == "endswith":
                return value.endswith(text)
            return text in value

        return check


def compile_filter(text: str | None) -> Predicate | None:
    """A predicate over wire JSON for a ``$filter`` string (None when there is no filter)."""
    if not text or not text.strip():
        return None
    return _Parser(text).parse()


def parse_select(text: str | None) -> list[str] | None:
    if not text or not text.strip():
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def project(obj: Mapping[str, Any], select: Iterable[str] | None) -> dict[str, Any]:
    """Keep only the selected top-level properties (``a/b`` keeps ``a.b`` only)."""
    if select is None:
        return obj if isinstance(obj, dict) else dict(obj)
    out: dict[str, Any] = {}
    for path in select:
        head, _, rest = path.partition("/")
        if head not in obj:
            continue
        if not rest:
            out[head] = obj[head]
        elif isinstance(obj[head], Mapping):
            nested = project(obj[head], [rest])
            if nested:
                out.setdefault(head, {}).update(nested)
    return out
