"""The trigger's progress line: logged when the counts move, else once per heartbeat."""

from __future__ import annotations

import pytest

import airflow_azure_compute.triggers.batch as batch_triggers
from airflow_azure_compute.states import TaskCounts
from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger


def test_progress_logged_on_change_and_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = BatchJobCompleteTrigger(job_id="j", conn_id="c", deadline=9e9, expected_tasks=4)
    lines: list[str] = []
    monkeypatch.setattr(type(trigger), "log", property(lambda self: _Log(lines)))
    queued = TaskCounts(active=4)
    trigger.report_progress(queued)
    trigger.report_progress(queued)  # unchanged: quiet
    trigger.report_progress(TaskCounts(active=2, running=1, completed=1, succeeded=1))
    assert len(lines) == 2 and "1/4 done" in lines[1] and "1 running" in lines[1]
    monkeypatch.setattr(batch_triggers, "HEARTBEAT_S", 0.0)
    trigger.report_progress(TaskCounts(active=2, running=1, completed=1, succeeded=1))  # heartbeat due
    assert len(lines) == 3


class _Log:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def info(self, message: str, *args: object) -> None:
        self.lines.append(message % args)
