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


# The formula of Microsoft's autoscale article (the `batch_automatic_scaling` sample of azure-batch).
WORKING_HOURS = """$curTime = time();
$workHours = $curTime.hour >= 8 && $curTime.hour < 18;
$isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
$isWorkingWeekdayHour = $workHours && $isWeekday;
$TargetDedicated = $isWorkingWeekdayHour ? 20:10;"""


@pytest.mark.parametrize(
    ("now", "nodes"),
    [
        ("2026-12-07T08:00:00Z", 20),  # Monday (weekday 1), 08:00
        ("2026-12-11T17:59:59Z", 20),  # Friday (weekday 5)
        ("2026-12-11T18:00:00Z", 10),  # Friday after hours
        ("2026-12-12T12:00:00Z", 10),  # Saturday (weekday 6)
        ("2026-12-13T12:00:00Z", 10),  # Sunday (weekday 0)
    ],
)
def test_time_members_and_the_older_target_dedicated_name(now: str, nodes: int) -> None:
    from datetime import datetime

    result = evaluate(WORKING_HOURS, {}, now=datetime.fromisoformat(now.replace("Z", "+00:00")))
    assert result.target_dedicated == nodes
    assert result.results_text().startswith(f"$TargetDedicatedNodes={nodes};")


def test_time_parses_w3c_and_rfc1123_dates() -> None:
    formula = """
        earlier = time("2026-12-02T10:00:00Z") < time("Wed, 02 Dec 2026 11:00:00 GMT");
        gap = time("2026-12-02T11:00:00Z") - time("2026-12-02T10:00:00Z");
        day = (time("2026-12-02T10:00:00Z") + TimeInterval_Day).day;
        $TargetDedicatedNodes = earlier + (gap == TimeInterval_Hour) + day;"""
    assert evaluate(formula, {}).target_dedicated == 1 + 1 + 3
    with pytest.raises(FormulaError, match="not a W3C-DTF or RFC 1123 date"):
        evaluate('$TargetDedicatedNodes = time("next tuesday").day;', {})
    with pytest.raises(FormulaError, match="no member 'fortnight'"):
        evaluate("$TargetDedicatedNodes = time().fortnight;", {})
