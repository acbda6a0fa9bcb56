"""The operations each emulator claims are those its routes serve, each replayed by a published example
(or listed with the reason it is not), and the docs page shows exactly that."""

from __future__ import annotations

import pytest

from airflow_azure_compute.emulator.operations import unclaimed_routes
from tests.conformance.operations import (
    EMULATORS,
    NO_EXAMPLE,
    PAGE,
    UNCLAIMED,
    claimed,
    rendered_page,
    replayed,
    service_app,
)


@pytest.mark.parametrize("service", EMULATORS)
def test_every_route_serves_a_claimed_operation_or_is_listed(service: str) -> None:
    found = {(r.method, r.path) for r in unclaimed_routes(service_app(service))}
    assert found == set(UNCLAIMED[service]), "a route serves no operation: register it with serves(...)"


@pytest.mark.parametrize("service", EMULATORS)
def test_every_claimed_operation_has_a_replayed_example_or_a_reason(service: str) -> None:
    ops, examples = set(claimed(service)), set(replayed(service))
    assert examples <= ops, f"examples of operations no route serves: {sorted(examples - ops)}"
    missing = ops - examples
    assert missing == set(NO_EXAMPLE[service]), (
        f"without an example or a listed reason: {sorted(missing - set(NO_EXAMPLE[service]))}; "
        f"listed but replayed or not served: {sorted(set(NO_EXAMPLE[service]) - missing)}"
    )


def test_the_docs_table_is_the_derived_one() -> None:
    assert PAGE.read_text() == rendered_page(), (
        "docs/emulator/conformance.md is out of date: run `python -m tests.conformance.operations`"
    )
