"""Wait for a container group created elsewhere (a Logic App, another DAG) to finish; deferred by default."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue

from airflow_azure_compute.deferral import deadline_after, default_deferrable
from airflow_azure_compute.deprecations import renamed_argument
from airflow_azure_compute.hooks.aci_groups import OnKillAction, evaluate_group, validate_group_name
from airflow_azure_compute.links import ContainerGroupLink, arm_scope
from airflow_azure_compute.operators.container_instances import _hook, group_outcome, print_new_logs

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context


class ContainerGroupSensor(BaseSensorOperator):
    """Wait until every container of an existing group has terminated; print its logs; return exit codes.

    The sensor never creates or deletes the group (a killed task leaves it alone). Success returns
    ``{"group_name", "exit_codes"}``; a non-zero exit raises ``RemoteWorkFailedError`` after the logs.

    :param group_name: container group name in the connection's resource group (templated).
    :param azure_conn_id: ``azure_compute_aci`` connection id.
    :param log_tail: at most this many log lines per container printed at the end.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``, else True).
    """

    template_fields: Sequence[str] = ("group_name", "azure_conn_id")
    operator_extra_links = (ContainerGroupLink(),)

    def __init__(
        self,
        *,
        group_name: str,
        azure_conn_id: str | None = None,
        log_tail: int = 1000,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 10.0)
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.group_name = group_name
        self.azure_conn_id = azure_conn_id
        self.log_tail = int(log_tail)
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def _done(self, event: Mapping[str, Any]) -> dict[str, Any]:
        hook = _hook(self.azure_conn_id)
        printed = dict(event.get("log_cursors") or {})  # what the trigger already printed
        print_new_logs(
            hook, self.group_name, event.get("exit_codes") or {}, printed, tail=self.log_tail, log=self.log
        )
        self.log.info("container group %s: %s", self.group_name, event.get("summary") or event.get("status"))
        return group_outcome(self.group_name, event)

    def _check(self, deadline: float | None, now: float) -> Mapping[str, Any] | None:
        # The trigger module (and airflow.triggers.base) is loaded only when a task runs, not at DAG parsing.
        from airflow_azure_compute.triggers.container_instances import evaluate

        return evaluate(
            self.group_name,
            _hook(self.azure_conn_id).get_group(self.group_name),
            deadline=deadline,
            now=now,
        )

    def execute(self, context: Context) -> Any:
        validate_group_name(self.group_name)
        settings = _hook(self.azure_conn_id).settings
        ContainerGroupLink.persist(
            context,
            **arm_scope(settings),
            group_name=self.group_name,
        )
        if not self.deferrable:
            return super().execute(context)
        deadline = deadline_after(self.timeout)
        event = self._check(deadline, time.time())
        if event is None:
            from airflow_azure_compute.triggers.container_instances import ContainerGroupTrigger

            self.defer(
                trigger=ContainerGroupTrigger(
                    group_name=self.group_name,
                    conn_id=self.azure_conn_id,
                    poll_interval=self.poke_interval,
                    deadline=deadline,
                    on_kill_action=OnKillAction.KEEP.value,
                ),
                method_name="execute_complete",
            )
        return self._done(event)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        body = _hook(self.azure_conn_id).get_group(self.group_name)
        if body is not None and not evaluate_group(body).terminal:
            return False
        from airflow_azure_compute.triggers.container_instances import evaluate

        event = evaluate(self.group_name, body, deadline=None, now=0.0)
        assert event is not None
        return PokeReturnValue(is_done=True, xcom_value=self._done(event))

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        return self._done(event)


__all__ = ["ContainerGroupSensor"]
