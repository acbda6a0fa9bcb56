"""ISO 8601 durations and id rules of the Batch wire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_azure_compute.emulator.batch.wire import (
    UNLIMITED,
    BatchError,
    check_id,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT5M", 300), ("P1DT2H", 93600), ("PT0.5S", 0.5), ("P1W", 604800), ("PT1H30M15S", 5415)],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_unlimited_and_invalid() -> None:
    assert parse_duration(UNLIMITED) is None and parse_duration(None) is None
    assert format_duration(None) == UNLIMITED
    for bad in ("5M", "P", "PT", "PTXS", "1 day"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**9).map(lambda ms: timedelta(milliseconds=ms)))
def test_round_trip(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


def test_ids() -> None:
    assert check_id("pool", "a" * 64) == "a" * 64
    for bad in ("a" * 65, "", "a b", "a.b", None):
        with pytest.raises(BatchError) as info:
            check_id("pool", bad)
        assert info.value.status == 400
