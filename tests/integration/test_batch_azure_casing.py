"""The provider against the Batch emulator answering in Azure's own casing and defaults.

Azure sends ``taskSchedulingPolicy.nodeFillType`` as ``Spread``/``Pack`` (which azure-batch 15.1 keeps
as a plain string, unequal to ``BatchNodeFillType.SPREAD``) and fills in defaults the create body did
not carry (``imageReference.version``, start-task settings, ``userIdentity``). Reusing a pool, waiting
for it and reading it must work on that answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.specs import PoolSpec, pool_differences
from airflow_azure_compute.states import Outcome, evaluate_pool
from tests.integration._batch_env import POOL_BASE, fresh
from tests.integration.emulator.batch_support import wait_for

pytestmark = pytest.mark.integration


def test_pool_reuse_and_readiness_on_azure_casing(batch_env: dict[str, Any]) -> None:
    hook = BatchHook()
    spec = PoolSpec.coerce(
        {
            **POOL_BASE,
            "pool_id": fresh("casing"),
            "dedicated_nodes": 1,
            "start_task": {"command_line": "/bin/true"},
        }
    )
    assert hook.create_pool(spec.to_wire())
    pool = hook.get_pool(spec.pool_id)
    assert pool is not None
    assert pool["taskSchedulingPolicy"]["nodeFillType"] == "Spread"  # Azure's casing, not the SDK enum's
    assert pool["virtualMachineConfiguration"]["imageReference"]["version"] == "latest"
    assert pool["startTask"]["userIdentity"]["autoUser"]["elevationLevel"] == "nonadmin"
    assert pool_differences(spec, pool) == []

    def ready() -> bool:
        current = hook.get_pool(spec.pool_id) or {}
        decision = evaluate_pool(current, hook.list_node_states(spec.pool_id), min_ready_nodes=1)
        assert decision.outcome is not Outcome.FAILED, decision.message
        return decision.outcome is Outcome.SUCCEEDED

    wait_for(ready, what="the pool to be ready")
    hook.delete_pool(spec.pool_id)
