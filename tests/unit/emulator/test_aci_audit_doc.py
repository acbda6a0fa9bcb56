"""The ACI page's property table is the audit the emulator applies (`emulator/aci/properties.py`)."""

from __future__ import annotations

from pathlib import Path

from airflow_azure_compute.emulator.aci.properties import AUDIT, EMULATED, NO_LOCAL_EFFECT, REFUSED

PAGE = Path(__file__).parents[3] / "docs" / "emulator" / "aci.md"


def _table() -> dict[str, str]:
    text = PAGE.read_text()
    section = text.split("## Every request property", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
    return {cells[1].strip().strip("`"): cells[2].strip() for cells in rows}


def test_the_docs_table_lists_every_audited_property_with_its_treatment() -> None:
    assert _table() == dict(AUDIT)


def test_every_treatment_is_one_of_three() -> None:
    assert set(AUDIT.values()) <= {EMULATED, NO_LOCAL_EFFECT, REFUSED}
