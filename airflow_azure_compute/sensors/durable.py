"""Wait for a Durable Functions orchestration: Completed -> output to XCom, otherwise an error; or wait
until its ``customStatus`` reaches a given value (a stage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue

from airflow_azure_compute.cleanup import CleanupPolicy
from airflow_azure_compute.deferral import deadline_after, default_deferrable
from airflow_azure_compute.deprecations import renamed_argument
from airflow_azure_compute.hooks.durable_api import SuspendedAction, validate_instance_id
from airflow_azure_compute.links import DurableInstanceLink, durable_app_fields
from airflow_azure_compute.operators.durable import DurableWaiter, _hook, make_waiter

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context


class DurableOrchestrationSensor(BaseSensorOperator):
    """Wait until an orchestration is terminal; deferred by default.

    ``Completed`` returns the output (XCom ``return_value``); ``Failed``, ``Terminated`` and ``Canceled``
    raise `RemoteWorkFailedError` with the output and failure
    details; ``customStatus`` is logged as progress. The sensor's ``timeout`` becomes an absolute deadline.

    :param instance_id: orchestration instance id (templated), e.g. the start operator's XCom.
    :param until_custom_status: succeed as soon as ``customStatus`` matches this (templated; a mapping
        matches by its keys: ``{"stage": "merge"}``) and return the customStatus; the instance keeps
        running. An instance that ends before matching fails the sensor.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``, else True).

    ``azure_conn_id``, ``on_suspended``, ``terminate_on_kill`` and ``cleanup`` are those of
    `DurableWaiter`; ``poke_interval`` is its poll interval.
    """

    template_fields: Sequence[str] = ("instance_id", "azure_conn_id", "until_custom_status")
    operator_extra_links = (DurableInstanceLink(),)

    def __init__(
        self,
        *,
        instance_id: str,
        azure_conn_id: str | None = None,
        on_suspended: SuspendedAction | str = SuspendedAction.WAIT,
        terminate_on_kill: bool = True,
        cleanup: CleanupPolicy | str = CleanupPolicy.KEEP,
        until_custom_status: Any = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 5.0)
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.until_custom_status = until_custom_status
        self.azure_conn_id = azure_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._waiter_args = (on_suspended, terminate_on_kill, cleanup)
        make_waiter(azure_conn_id, self.poke_interval, *self._waiter_args)  # fail fast on bad values

    @property
    def waiter(self) -> DurableWaiter:
        return make_waiter(
            self.azure_conn_id, self.poke_interval, *self._waiter_args, self.until_custom_status
        )

    def _deadline(self) -> float | None:
        return deadline_after(self.timeout)

    def execute(self, context: Context) -> Any:
        validate_instance_id(self.instance_id)
        hook = _hook(self.azure_conn_id)
        DurableInstanceLink.persist(
            context, instance_id=self.instance_id, **durable_app_fields(hook.settings)
        )
        if not self.deferrable:
            return super().execute(context)
        waiter = self.waiter
        deadline = self._deadline()
        event, _ = waiter.check(hook, self.instance_id, deadline, self.log)
        if event is None:
            self.defer(trigger=waiter.trigger(self.instance_id, deadline), method_name="execute_complete")
        return waiter.finish(hook, event, self.log)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        hook = _hook(self.azure_conn_id)
        waiter = self.waiter
        event, _ = waiter.check(hook, self.instance_id, None, self.log)
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=waiter.finish(hook, event, self.log))

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        return self.waiter.finish(_hook(self.azure_conn_id), event, self.log)


__all__ = ["DurableOrchestrationSensor"]
