"""Fixtures of the operator tests that run against the emulator through the provider's hooks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_azure_compute.hooks.durable import DurableHook


@pytest.fixture(scope="module")
def durable(module_connections: pytest.MonkeyPatch, emulator: dict[str, Any]) -> DurableHook:
    """A Durable hook on the emulator's default connection, for one test module; the module also has
    ``durable_bad_key``, the same host with a wrong function key."""
    bad = {"conn_type": "azure_compute_durable", "host": emulator["durable"]["url"], "password": "wrong-key"}
    module_connections.setenv("AIRFLOW_CONN_DURABLE_BAD_KEY", json.dumps(bad))
    return DurableHook()
