"""Replay of Azure SDK test-proxy recordings (real service traffic) against the emulators.

A recording is one test's sequence of requests and the service's answers, in order. Each session is
replayed in order, with the recording's ids made session-unique (the emulator is shared by the test
run), and each answer is compared structurally with the recorded one (`compare.diff`): status,
field set, JSON types, enum casing, and the headers clients read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.conformance.compare import diff, header_diff

RECORDINGS = Path(__file__).parent / "data" / "recordings"
#: Collections whose next path segment is an id the client chose (Batch data plane). Node ids are
#: the service's own: the replay learns them from the emulator's answers instead.
ID_COLLECTIONS = ("pools", "jobs", "tasks", "jobschedules", "users")
#: Headers a Batch client reads from an answer, when the recorded answer carries them (the file
#: properties are read from a HEAD's headers, `Content-Length` included).
CLIENT_HEADERS = (
    "request-id",
    "ETag",
    "Last-Modified",
    "DataServiceId",
    "ocp-batch-file-isdirectory",
    "ocp-batch-file-url",
    "ocp-creation-time",
)


@dataclass(frozen=True)
class Exchange:
    """One recorded request and the service's answer."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    headers: dict[str, str]
    response: Any

    def with_path(self, replacements: Mapping[str, str]) -> Exchange:
        """This exchange with the service-chosen names of its path (node ids, task directories)
        replaced by the emulator's."""
        path = self.path
        for recorded, mine in replacements.items():
            path = path.replace(recorded, mine)
        return replace(self, path=path)

    def same_request(self, other: Exchange) -> bool:
        """Whether `other` repeats this request (a client polling for a state)."""
        return (self.method, self.path, self.query, self.body) == (
            other.method,
            other.path,
            other.query,
            other.body,
        )

    @property
    def operation(self) -> str:
        """The operation, as method and path template (`POST /pools/{id}/resize`)."""
        parts = self.path.strip("/").split("/")
        if "files" in parts[:-1]:  # a file path, however many segments it has
            parts = [*parts[: parts.index("files") + 1], "{path}"]
        ids = (*ID_COLLECTIONS, "nodes")
        template = ["{id}" if index and parts[index - 1] in ids else part for index, part in enumerate(parts)]
        return f"{self.method} /" + "/".join(template)


@dataclass
class Outcome:
    """How the emulator's answer to one exchange compares with the recorded one."""

    session: str
    index: int
    operation: str
    status: int
    recorded_status: int
    refused: str | None = None
    problems: list[str] = field(default_factory=list)
    fields: int = 0
    fields_ok: int = 0

    @property
    def status_ok(self) -> bool:
        return self.refused is None and self.status == self.recorded_status

    @property
    def field_problems(self) -> list[str]:
        return [p for p in self.problems if not p.startswith("header ")]

    @property
    def shape_ok(self) -> bool:
        return self.status_ok and not self.field_problems

    @property
    def headers_ok(self) -> bool:
        return self.status_ok and len(self.field_problems) == len(self.problems)


def sessions(service: str) -> list[str]:
    return sorted(p.stem for p in (RECORDINGS / service).glob("*.json"))


def load(service: str, name: str, ids: Mapping[str, str]) -> list[Exchange]:
    """The recorded exchanges of one session, with every recorded id replaced by its `ids` value."""
    text = (RECORDINGS / service / f"{name}.json").read_text()
    for recorded, mine in ids.items():
        text = re.sub(rf"\b{re.escape(recorded)}\b", mine, text)
    exchanges = []
    for entry in json.loads(text)["Entries"]:
        url = urlsplit(entry["RequestUri"])
        exchanges.append(
            Exchange(
                method=entry["RequestMethod"],
                path=url.path,
                query=dict(parse_qsl(url.query)),
                body=entry["RequestBody"],
                status=entry["StatusCode"],
                headers=entry["ResponseHeaders"],
                response=entry["ResponseBody"],
            )
        )
    return exchanges


def recorded_ids(service: str, name: str) -> set[str]:
    """Ids the session's requests name: path segments after an id collection, and created ids."""
    found: set[str] = set()
    for entry in json.loads((RECORDINGS / service / f"{name}.json").read_text())["Entries"]:
        parts = urlsplit(entry["RequestUri"]).path.strip("/").split("/")
        found.update(parts[i] for i in range(1, len(parts)) if parts[i - 1] in ID_COLLECTIONS)
        body = entry["RequestBody"]
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            found.add(body["id"])
    return found


def field_paths(value: Any, path: str = "") -> Iterable[str]:
    """Every field path of a JSON value (list items as `[]`), one per occurrence."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            yield child
            yield from field_paths(item, child)
    elif isinstance(value, list):
        for item in value:
            yield from field_paths(item, f"{path}[]")


def _problem_path(problem: str) -> str:
    return problem.split(": ", 1)[0]


def compare(exchange: Exchange, status: int, headers: Mapping[str, str], body: Any, outcome: Outcome) -> None:
    """Fill `outcome` with the divergences of an answer from the recorded one."""
    expected = exchange.response if isinstance(exchange.response, dict) else None
    paths = list(field_paths(expected)) if expected is not None else []
    outcome.fields = len(paths)
    if not outcome.status_ok:
        outcome.problems.append(f"status {status} (recorded {exchange.status}); body {str(body)[:300]}")
        return
    if expected is not None:
        outcome.problems += diff(expected, body)
        code = expected.get("code")
        if (
            exchange.status >= 400
            and isinstance(body, dict)
            and code is not None
            and body.get("code") != code
        ):
            outcome.problems.append(f"code: {body.get('code')!r}, Azure sends {code!r}")
    names = (*CLIENT_HEADERS, "Content-Length") if exchange.method == "HEAD" else CLIENT_HEADERS
    wanted = {name: "" for name in names if name.lower() in {h.lower() for h in exchange.headers}}
    outcome.problems += header_diff(wanted, headers)
    wrong = {_problem_path(p) for p in outcome.field_problems}
    outcome.fields_ok = sum(
        1 for p in paths if not any(p == w or p.startswith((f"{w}.", f"{w}[]")) for w in wrong)
    )


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """Figures over all exchanges: status, field set and field matches; refusals listed apart."""
    total = len(outcomes)
    fields = sum(o.fields for o in outcomes)
    per_operation: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = per_operation.setdefault(o.operation, {"requests": 0, "status": 0, "fields": 0, "refused": 0})
        row["requests"] += 1
        row["status"] += o.status_ok
        row["fields"] += o.shape_ok
        row["refused"] += o.refused is not None
    return {
        "requests": total,
        "status_ok": sum(o.status_ok for o in outcomes),
        "shape_ok": sum(o.shape_ok for o in outcomes),
        "headers_ok": sum(o.headers_ok for o in outcomes),
        "refused": [f"{o.session}#{o.index} {o.operation}: {o.refused}" for o in outcomes if o.refused],
        "fields": fields,
        "fields_ok": sum(o.fields_ok for o in outcomes),
        "per_operation": per_operation,
    }
