"""The trigger's progress line: every poll by default, or quieter while the counts stand still."""

from __future__ import annotations

import pytest

from airflow_azure_compute.states import TaskCounts
from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger


def test_progress_line_at_every_poll_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = BatchJobCompleteTrigger(job_id="j", conn_id="c", deadline=9e9, expected_tasks=4)
    lines: list[str] = []
    monkeypatch.setattr(type(trigger), "log", property(lambda self: _Log(lines)))
    queued = TaskCounts(active=4)
    trigger.report_progress(queued)
    trigger.report_progress(queued)
    trigger.report_progress(TaskCounts(active=2, running=1, completed=1, succeeded=1))
    assert len(lines) == 3 and "1/4 done" in lines[2] and "1 running" in lines[2]


def test_quiet_mode_logs_changes_and_a_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = BatchJobCompleteTrigger(
        job_id="j", conn_id="c", deadline=9e9, expected_tasks=4, progress_quiet_s=60
    )
    lines: list[str] = []
    monkeypatch.setattr(type(trigger), "log", property(lambda self: _Log(lines)))
    queued = TaskCounts(active=4)
    trigger.report_progress(queued)
    trigger.report_progress(queued)  # unchanged within 60 s: quiet
    moved = TaskCounts(active=2, running=1, completed=1, succeeded=1)
    trigger.report_progress(moved)
    assert len(lines) == 2
    trigger.progress_quiet_s = 0.0  # the heartbeat is due
    trigger.report_progress(moved)
    assert len(lines) == 3


class _Log:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def info(self, message: str, *args: object) -> None:
        self.lines.append(message % args)
