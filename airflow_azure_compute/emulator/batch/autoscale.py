"""A small evaluator of the Batch autoscale formula language.

Enough for the usual formulas: ``name = expr;`` statements, arithmetic, comparisons, ``&& || !``,
``cond ? a : b``, functions (``min max avg sum count len abs ceil floor round sqrt median``),
``time()`` / ``time("<W3C-DTF or RFC 1123 date>")`` timestamps with their members (``.year .month
.day .weekday .hour .minute .second``; ``weekday`` counts from Sunday = 0, so Monday is 1 as the
documentation says) and comparisons, the ``TimeInterval_*`` constants (intervals are seconds), system variables (``$PendingTasks``, ``$ActiveTasks``, ``$RunningTasks``,
``$CurrentDedicatedNodes``, ...) whose ``GetSample(n)`` returns the current value and whose
``GetSamplePercent(...)`` is 100, and keyword values (``$NodeDeallocationOption = taskcompletion``).
The outputs are ``$TargetDedicatedNodes`` (or its older name ``$TargetDedicated``, which formulas of
Microsoft's own samples still set), ``$TargetLowPriorityNodes`` and ``$NodeDeallocationOption``.
"""

from __future__ import annotations

import email.utils
import math
import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

Value = Any  # float | list[float] | str | datetime (a timestamp)

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>\$?[A-Za-z_]\w*)|(?P<str>\"[^\"]*\")"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[-+*/<>!?:=;(),.]))"
)
_TIMESTAMP_MEMBERS: dict[str, Callable[[datetime], float]] = {
    "year": lambda t: float(t.year),
    "month": lambda t: float(t.month),
    "day": lambda t: float(t.day),
    "weekday": lambda t: float(t.isoweekday() % 7),  # .NET DayOfWeek: Sunday 0, Monday 1
    "hour": lambda t: float(t.hour),
    "minute": lambda t: float(t.minute),
    "second": lambda t: float(t.second),
}
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


def _timestamp(text: str) -> datetime:
    """``time("...")``: a W3C-DTF (ISO 8601) or RFC 1123 date, as UTC."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise FormulaError(f"time({text!r}): not a W3C-DTF or RFC 1123 date") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _time_binary(op: str, a: Value, b: Value) -> Value:
    """Timestamp arithmetic and comparisons (intervals are seconds)."""
    if isinstance(a, datetime) and isinstance(b, datetime):
        if op == "-":
            return (a - b).total_seconds()
        comparisons = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
        if op in comparisons:
            return float(comparisons[op])
    elif op == "+" and isinstance(a, datetime):
        return a + timedelta(seconds=_scalar(b))
    elif op == "+" and isinstance(b, datetime):
        return b + timedelta(seconds=_scalar(a))
    raise FormulaError(f"operator {op!r} does not apply to a timestamp here")


def _binary(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, datetime) or isinstance(b, datetime):
        return _time_binary(op, a, b)
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
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

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
            _, member = self.take()
            if self.peek() != "(" and isinstance(value, datetime):
                if member.lower() not in _TIMESTAMP_MEMBERS:
                    raise FormulaError(f"a timestamp has no member {member!r}")
                value = _TIMESTAMP_MEMBERS[member.lower()](value)
                continue
            value = self.method(value, member, self.args())
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
        if kind == "str":
            return text[1:-1]
        if text == "(":
            value = self.expr()
            self.expect(")")
            return value
        if kind != "name":
            raise FormulaError(f"unexpected {text!r}")
        if self.peek() == "(" and text.lower() == "time":
            args = self.args()
            if not args or args == ("",):
                return self.now
            if len(args) != 1 or not isinstance(args[0], str):
                raise FormulaError("time() takes one date string")
            return _timestamp(args[0])
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
            if isinstance(value, datetime):
                return value.strftime("%Y-%m-%dT%H:%M:%SZ")
            return f"{value:g}" if isinstance(value, float) else str(value)

        first = [
            f"$TargetDedicatedNodes={self.target_dedicated}",
            f"$TargetLowPriorityNodes={self.target_low_priority}",
            f"$NodeDeallocationOption={self.deallocation}",
        ]
        rest = [f"{k}={show(v)}" for k, v in self.variables.items() if not k.startswith("$")]
        return ";".join(first + rest)


def evaluate(formula: str, metrics: Mapping[str, float], now: datetime | None = None) -> AutoScaleResult:
    """Run ``formula`` with the system variables in ``metrics`` (e.g. ``{"$PendingTasks": 3}``);
    ``time()`` is ``now`` (default: the current UTC time)."""
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
    _Parser(tokens, env, now=now or datetime.now(timezone.utc)).program()

    def set_by_formula(name: str) -> bool:
        return name in env and (name not in before or env[name] is not before[name])

    if set_by_formula("$TargetDedicated") and not set_by_formula("$TargetDedicatedNodes"):
        env["$TargetDedicatedNodes"] = env["$TargetDedicated"]  # set under its older name only

    def target(name: str) -> int:
        value = _scalar(env.get(name, 0.0))
        if math.isnan(value):
            raise FormulaError(f"{name} is not a number")
        return max(0, int(value))

    option = env.get("$NodeDeallocationOption", "requeue")
    if option not in KEYWORDS:
        raise FormulaError(f"$NodeDeallocationOption must be one of {sorted(KEYWORDS)}")
    assigned = {k: v for k, v in env.items() if set_by_formula(k)}
    return AutoScaleResult(
        target("$TargetDedicatedNodes"), target("$TargetLowPriorityNodes"), str(option), assigned
    )
