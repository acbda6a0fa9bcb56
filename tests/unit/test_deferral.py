"""Deadline arithmetic shared by the operators and the triggers."""

from __future__ import annotations

from datetime import timedelta

from airflow_azure_compute.deferral import deadline_after, poll_delay


def test_the_next_poll_waits_the_interval_cut_short_by_the_deadline() -> None:
    assert poll_delay(10.0, None) == 10.0
    assert poll_delay(10.0, 1000.0, now=900.0) == 10.0
    assert poll_delay(10.0, 1000.0, now=996.5) == 3.5
    assert poll_delay(10.0, 1000.0, now=1200.0) == 0.0  # past the deadline: poll once more at once


def test_a_deadline_is_absolute() -> None:
    assert deadline_after(timedelta(minutes=2), now=100.0) == 220.0
    assert deadline_after(None) is None
