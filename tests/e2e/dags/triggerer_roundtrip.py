"""Harness check: a task defers to a trigger that only the triggerer process can fire.

``wait`` defers with the standard provider's ``TimeDeltaTrigger``; only when the triggerer has run the
trigger and fired its event does ``resume`` run and return the event payload together with the run
config's ``token``. ``check`` fails unless that token came through.
"""

from __future__ import annotations

import datetime
from typing import Any

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import DAG, BaseOperator, Param, task


class WaitInTriggerer(BaseOperator):
    """Defer for ``seconds`` (templated) and return what the trigger sent back."""

    template_fields = ("seconds",)

    def __init__(self, *, seconds: str | float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds

    def execute(self, context: Any) -> None:
        self.defer(
            trigger=TimeDeltaTrigger(datetime.timedelta(seconds=float(self.seconds))),
            method_name="resume",
        )

    def resume(self, context: Any, event: Any = None) -> dict[str, str]:
        return {"event": str(event), "token": str(context["params"]["token"])}


with DAG(
    dag_id="triggerer_roundtrip",
    schedule=None,
    catchup=False,
    params={"token": Param("unset", type="string"), "seconds": Param(2, type="number")},
    tags=["e2e"],
) as dag:
    waited = WaitInTriggerer(task_id="wait", seconds="{{ params.seconds }}")

    @task
    def check(result: Any, params: dict[str, Any] | None = None) -> str:
        assert params is not None
        if result["token"] != params["token"] or result["token"] == "unset":
            raise ValueError(f"run config did not reach the deferred task: {result}")
        return result["token"]

    check(waited.output)
