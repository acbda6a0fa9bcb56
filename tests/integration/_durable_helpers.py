"""Helpers for the Durable operator tests."""

from __future__ import annotations

import time
from typing import Any

from airflow_azure_compute.hooks.durable import DurableHook
from airflow_azure_compute.hooks.durable_api import RuntimeStatus


def wait_status(hook: DurableHook, instance_id: str, *wanted: RuntimeStatus, timeout: float = 30) -> Any:
    """The Durable instance's status once its runtime status is one of ``wanted``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = hook.get_status(instance_id)
        if status is not None and status.runtime_status in wanted:
            return status
        time.sleep(0.05)
    raise AssertionError(f"{instance_id} never reached {wanted}")
