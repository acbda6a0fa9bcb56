"""The autoscale formula evaluator: the seed 002 formula and the common constructs."""

from __future__ import annotations

import pytest

from airflow_azure_compute.emulator.batch.autoscale import FormulaError, evaluate

SEED_FORMULA = """maxNumberofVMs = 4;
            maxPendingTasks = $PendingTasks.GetSample(1);
            $TargetLowPriorityNodes=min(maxNumberofVMs, maxPendingTasks);
            $NodeDeallocationOption=taskcompletion;"""


@pytest.mark.parametrize(("pending", "nodes"), [(0, 0), (2, 2), (9, 4)])
def test_seed_formula(pending: int, nodes: int) -> None:
    result = evaluate(SEED_FORMULA, {"$PendingTasks": pending})
    assert (result.target_dedicated, result.target_low_priority) == (0, nodes)
    assert result.deallocation == "taskcompletion"
    assert f"$TargetLowPriorityNodes={nodes}" in result.results_text()
    assert "maxNumberofVMs=4" in result.results_text()


def test_expressions() -> None:
    formula = """
        // comments are allowed
        pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);
        busy = avg($PendingTasks.GetSample(TimeInterval_Minute * 5)) > 3 && pct >= 70;
        $TargetDedicatedNodes = busy ? max(2, $CurrentDedicatedNodes + 1) : $TargetDedicatedNodes;
        $TargetLowPriorityNodes = -1;
    """
    result = evaluate(formula, {"$PendingTasks": 5, "$CurrentDedicatedNodes": 3, "$TargetDedicatedNodes": 1})
    assert (result.target_dedicated, result.target_low_priority) == (4, 0)
    idle = evaluate(formula, {"$PendingTasks": 1, "$CurrentDedicatedNodes": 3, "$TargetDedicatedNodes": 1})
    assert idle.target_dedicated == 1


@pytest.mark.parametrize(
    "formula",
    [
        "$TargetDedicatedNodes = ;",
        "$TargetDedicatedNodes = (1",
        "x = unknownVar;",
        "x = 1 / 0;",
        "= 3;",
        "x = min();",
    ],
)
def test_errors(formula: str) -> None:
    with pytest.raises(FormulaError):
        evaluate(formula, {})
