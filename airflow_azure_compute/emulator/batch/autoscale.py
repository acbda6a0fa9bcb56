"""A small evaluator of the Batch autoscale formula language.

Enough for the usual formulas: ``name = expr;`` statements, arithmetic, comparisons, ``&& || !``,
``cond ? a : b``, functions (``min max avg sum count len abs ceil floor round sqrt median``), the
``TimeInterval_*`` constants, system variables (``$PendingTasks``, ``$ActiveTasks``, ``$RunningTasks``,
``$CurrentDedicatedNodes``, ...) whose ``GetSample(n)`` returns the current value and whose
``GetSamplePercent(...)`` is 100, and keyword values (``$NodeDeallocationOption = taskcompletion``).
The outputs are ``$TargetDedicatedNodes``, ``$TargetLowPriorityNodes`` and ``$NodeDeallocationOption``.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Value = Any  # float | list[float] | str

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>\$?[A-Za-z_]\w*)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[-+*/<>!?:=;(),.]))"
)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_TIME = {
    "TimeInterval_Zero": 0.0,
    "TimeInterval_100ns": 1e-7,
    "TimeInterval_Microsecond": 1e-6,
    "TimeInterval_Millisecond": 1e-3,
    "TimeInterval_Second": 1.0,
    "TimeInterval_Minute": 60.0,
    "TimeInterval_Hour": 3600.0,
    "TimeInterval_Day": 86400.0,
    "TimeInterval_Week": 604800.0,
}
KEYWORDS = {"requeue", "terminate", "taskcompletion", "retaineddata"}


class FormulaError(ValueError):
    """A formula that does not parse or evaluate (Batch: AutoScalingFormulaSyntaxError)."""


def _flat(values: tuple[Value, ...]) -> list[float]:
    out: list[float] = []
    for value in values:
        if isinstance(value, list):
            out.extend(float(v) for v in value)
        elif isinstance(value, (int, float)):
            out.append(float(value))
        else:
            raise FormulaError(f"expected a number, got {value!r}")
    return out


def _need(values: list[float], name: str) -> list[float]:
    if not values:
        raise FormulaError(f"{name}() of an empty vector")
    return values


_FUNCS: dict[str, Callable[[list[float]], float]] = {
    "min": lambda v: min(_need(v, "min")),
    "max": lambda v: max(_need(v, "max")),
    "avg": lambda v: statistics.fmean(_need(v, "avg")),
    "sum": lambda v: math.fsum(v),
    "count": lambda v: float(len(v)),
    "len": lambda v: float(len(v)),
    "median": lambda v: statistics.median(_need(v, "median")),
    "abs": lambda v: abs(_need(v, "abs")[0]),
    "ceil": lambda v: float(math.ceil(_need(v, "ceil")[0])),
    "floor": lambda v: float(math.floor(_need(v, "floor")[0])),
    "round": lambda v: float(round(_need(v, "round")[0])),
    "sqrt": lambda v: math.sqrt(_need(v, "sqrt")[0]),
}


def _scalar(value: Value) -> float:
    if isinstance(value, list):
        if len(value) != 1:
            raise FormulaError("a vector was used where a number is needed")
        return float(value[0])
    if isinstance(value, (int, float)):
        return float(value)
    raise FormulaError(f"expected a number, got {value!r}")


def _binary(op: str, a: Value, b: Value) -> Value:
    if op in ("&&", "||"):
        return float(
            bool(_scalar(a)) and bool(_scalar(b)) if op == "&&" else bool(_scalar(a)) or bool(_scalar(b))
        )
    if op in ("==", "!=") and (isinstance(a, str) or isinstance(b, str)):
        return float((a == b) == (op == "=="))
    x, y = _scalar(a), _scalar(b)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        if y == 0:
            raise FormulaError("division by zero")
        return x / y
    return float({"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op])


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    env: dict[str, Value]
    i: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise FormulaError("unexpected end of formula")
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, text: str) -> None:
        _, got = self.take()
        if got != text:
            raise FormulaError(f"expected {text!r}, found {got!r}")

    def program(self) -> None:
        while self.peek() is not None:
            if self.peek() == ";":
                self.take()
                continue
            kind, name = self.take()
            if kind != "name":
                raise FormulaError(f"expected a variable name, found {name!r}")
            self.expect("=")
            self.env[name] = self.expr()
            if self.peek() not in (";", None):
                raise FormulaError(f"expected ';', found {self.peek()!r}")

    def expr(self) -> Value:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take()
            yes = self.expr()
            self.expect(":")
            no = self.expr()
            return yes if _scalar(cond) else no
        return cond

    _LEVELS = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">="), ("+", "-"), ("*", "/"))

    def binary(self, level: int) -> Value:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._LEVELS[level]:
            op = self.take()[1]
            left = _binary(op, left, self.binary(level + 1))
        return left

    def unary(self) -> Value:
        if self.peek() == "-":
            self.take()
            return -_scalar(self.unary())
        if self.peek() == "!":
            self.take()
            return float(not _scalar(self.unary()))
        return self.postfix()

    def args(self) -> tuple[Value, ...]:
        self.expect("(")
        out: list[Value] = []
        while self.peek() != ")":
            out.append(self.expr())
            if self.peek() == ",":
                self.take()
        self.expect(")")
        return tuple(out)

    def postfix(self) -> Value:
        value = self.primary()
        while self.peek() == ".":
            self.take()
            _, method = self.take()
            args = self.args()
            value = self.method(value, method, args)
        return value

    def method(self, value: Value, name: str, args: tuple[Value, ...]) -> Value:
        current = value if isinstance(value, list) else [_scalar(value)]
        lowered = name.lower()
        if lowered == "getsample":
            return list(current)
        if lowered == "getsamplepercent":
            return 100.0
        if lowered in ("count", "getsampleperiod"):
            return float(len(current))
        if lowered in ("historybegintime", "getsampleinterval"):
            return 0.0
        raise FormulaError(f"unknown method {name!r}")

    def primary(self) -> Value:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.expr()
            self.expect(")")
            return value
        if kind != "name":
            raise FormulaError(f"unexpected {text!r}")
        if self.peek() == "(" and text.lower() in _FUNCS:
            return _FUNCS[text.lower()](_flat(self.args()))
        if text in _TIME:
            return _TIME[text]
        if text in self.env:
            return self.env[text]
        if text.lower() in KEYWORDS:
            return text.lower()
        if text.startswith("$"):
            return 0.0  # a system metric we do not model
        raise FormulaError(f"unknown variable {text!r}")


@dataclass(frozen=True)
class AutoScaleResult:
    """The outputs of one evaluation and every assigned variable (for ``autoScaleRun.results``)."""

    target_dedicated: int
    target_low_priority: int
    deallocation: str
    variables: dict[str, Value]

    def results_text(self) -> str:
        def show(value: Value) -> str:
            if isinstance(value, list):
                return "[" + ",".join(f"{v:g}" for v in value) + "]"
            return f"{value:g}" if isinstance(value, float) else str(value)

        first = [
            f"$TargetDedicatedNodes={self.target_dedicated}",
            f"$TargetLowPriorityNodes={self.target_low_priority}",
            f"$NodeDeallocationOption={self.deallocation}",
        ]
        rest = [f"{k}={show(v)}" for k, v in self.variables.items() if not k.startswith("$")]
        return ";".join(first + rest)


def evaluate(formula: str, metrics: Mapping[str, float]) -> AutoScaleResult:
    """Run ``formula`` with the system variables in ``metrics`` (e.g. ``{"$PendingTasks": 3}``)."""
    text = _COMMENT.sub(" ", formula)
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FormulaError(f"unexpected character {text[pos]!r} at {pos}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    env: dict[str, Value] = {name: float(value) for name, value in metrics.items()}
    env.setdefault("$NodeDeallocationOption", "requeue")
    before = dict(env)
    _Parser(tokens, env).program()

    def target(name: str) -> int:
        value = _scalar(env.get(name, 0.0))
        if math.isnan(value):
            raise FormulaError(f"{name} is not a number")
        return max(0, int(value))

    option = env.get("$NodeDeallocationOption", "requeue")
    if option not in KEYWORDS:
        raise FormulaError(f"$NodeDeallocationOption must be one of {sorted(KEYWORDS)}")
    assigned = {k: v for k, v in env.items() if k not in before or env[k] is not before[k]}
    return AutoScaleResult(
        target("$TargetDedicatedNodes"), target("$TargetLowPriorityNodes"), str(option), assigned
    )
