"""Fixtures of the conformance suite and its summary (examples matching in status and in shape)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.aci_scenarios import AciWorld
from tests.conformance.batch_scenarios import BatchWorld
from tests.conformance.clients import BatchWire
from tests.conformance.durable_scenarios import DurableWorld

DATA = Path(__file__).parent / "data"
#: example name -> {"service", "status_ok", "shape_ok", "problems"}; filled by the tests.
OUTCOMES: dict[str, dict[str, Any]] = {}


def examples(service: str) -> list[str]:
    return sorted(p.stem for p in (DATA / service).glob("*.json"))


def load(service: str, name: str) -> dict[str, Any]:
    return json.loads((DATA / service / f"{name}.json").read_text())  # type: ignore[no-any-return]


def record(service: str, name: str, status_ok: bool, problems: list[str]) -> None:
    fields = [p for p in problems if not p.startswith("header ")]
    OUTCOMES[f"{service}/{name}"] = {
        "service": service,
        "status_ok": status_ok,
        "shape_ok": status_ok and not fields,
        "headers_ok": status_ok and len(fields) == len(problems),
        "problems": problems,
    }


@pytest.fixture(scope="module")
def batch_world(emulator: dict[str, Any]) -> Iterator[BatchWorld]:
    wire = BatchWire(emulator)
    world = BatchWorld(wire)
    yield world
    world.cleanup()
    wire.close()


@pytest.fixture(scope="module")
def aci_world(emulator: dict[str, Any]) -> Iterator[AciWorld]:
    world = AciWorld(emulator)
    yield world
    world.cleanup()


@pytest.fixture(scope="module")
def durable_world(emulator: dict[str, Any]) -> DurableWorld:
    return DurableWorld(emulator)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.conformance.test_recordings import pytest_terminal_summary_lines

    for line in pytest_terminal_summary_lines():
        terminalreporter.write_line(line)
    if not OUTCOMES:
        return
    lines = ["conformance: examples matching in status / status and fields / headers clients read"]
    groups = sorted({o["service"] for o in OUTCOMES.values()})
    for service in [*groups, None]:
        mine = [o for o in OUTCOMES.values() if service is None or o["service"] == service]
        counts = [sum(o[key] for o in mine) for key in ("status_ok", "shape_ok", "headers_ok")]
        lines.append(f"  {service or 'all'}: " + " / ".join(f"{c}/{len(mine)}" for c in counts))
    for line in lines:
        terminalreporter.write_line(line)
    if target := os.environ.get("CONFORMANCE_REPORT"):
        Path(target).write_text(json.dumps(OUTCOMES, indent=2, sort_keys=True))
