"""Seeded faults: replayable draws, validation, partial updates."""

from __future__ import annotations

import pytest

from airflow_azure_compute.emulator.faults import Counters, Faults


def test_draws_replay_with_the_same_seed() -> None:
    first = Faults(error_rate=0.3, reset_rate=0.1, seed=42)
    second = Faults(error_rate=0.3, reset_rate=0.1, seed=42)
    a = [first.draw() for _ in range(500)]
    assert a == [second.draw() for _ in range(500)]
    assert {"reset", "429", "503", None} == set(a)
    assert 0.25 < sum(x in ("429", "503") for x in a) / 500 < 0.35


def test_no_faults_by_default() -> None:
    faults = Faults()
    assert all(faults.draw() is None for _ in range(100))


def test_update_validates_and_reseeds() -> None:
    faults = Faults(seed=1)
    faults.update({"error_rate": 1.0, "seed": 5})
    assert faults.as_dict() == {
        "latency_ms": 0.0,
        "error_rate": 1.0,
        "reset_rate": 0.0,
        "seed": 5,
        "reset_next": 0,
        "lose_next": 0,
        "retry_after": 1.0,
    }
    assert faults.draw() in ("429", "503")
    for bad in ({"error_rate": 2}, {"latency_ms": -1}, {"nope": 1}, {"lose_next": -1}):
        with pytest.raises(ValueError):
            faults.update(bad)
    assert faults.error_rate == 1.0  # a rejected update changes nothing


def test_counters_reset() -> None:
    counters = Counters()
    counters.requests["GET /x"] += 2
    counters.bytes_sent = 10
    assert counters.as_dict()["total_requests"] == 2
    counters.reset()
    assert counters.as_dict()["total_requests"] == 0 and counters.bytes_sent == 0


def test_counted_faults_come_first_and_run_out() -> None:
    faults = Faults()
    faults.update({"reset_next": 1, "lose_next": 2})
    assert [faults.draw() for _ in range(4)] == ["reset", "lost", "lost", None]
