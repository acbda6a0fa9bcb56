"""Run an Azure Container Instances container group to completion: create or reattach, wait, logs, cleanup.

The group name derives from dag, run, task and map index, so a retry finds the group its first try
created: a live one is reattached, a finished one is replaced. Deferred, the task hands the trigger a
plan of the group with no secret in it and the *trigger* creates the group, prints its logs into the
task log every ``logging_interval`` and deletes it on kill: from submission to the end of the wait there
is always exactly one owner of the group (see `airflow_azure_compute.triggers.container_instances`).
The final logs are printed before the cleanup policy may delete the group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator

from airflow_azure_compute.cleanup import CleanupPolicy, run_then_clean_up, should_delete
from airflow_azure_compute.deferral import deadline_after, default_deferrable, to_seconds
from airflow_azure_compute.deprecations import renamed_argument
from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeError,
    AzureComputeRemoteError,
    DeadlineExceededError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.hooks.aci_groups import (
    ContainerSpec,
    GroupPlan,
    OnKillAction,
    VolumeSpec,
    WaitFor,
    connection_value,
    derive_group_name,
    evaluate_group,
    new_log_lines,
    plan_group,
    validate_group_name,
)
from airflow_azure_compute.ids import created_by_run, run_metadata, run_scope
from airflow_azure_compute.lineage import LineageMixin
from airflow_azure_compute.links import ContainerGroupLink, arm_scope

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
    from airflow_azure_compute.triggers.container_instances import ContainerGroupEvent

T = TypeVar("T")


def _hook(azure_conn_id: str | None) -> ContainerInstancesHook:
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook

    return ContainerInstancesHook(azure_conn_id)


def print_new_logs(
    hook: ContainerInstancesHook,
    name: str,
    containers: Iterable[str],
    cursors: Mapping[str, str],
    *,
    tail: int,
    log: Any,
) -> dict[str, str]:
    """Print each container's log lines newer than its cursor (at most ``tail``); return the new cursors."""
    out = dict(cursors)
    for container in containers:
        try:
            content = hook.get_logs(name, container, tail=tail, timestamps=True)
        except AzureComputeError as err:
            log.warning("logs of %s/%s unavailable: %s", name, container, err)
            continue
        lines, cursor = new_log_lines(content, out.get(container))
        for line in lines:
            log.info("[%s] %s", container, line)
        if cursor is not None:
            out[container] = cursor
    return out


def group_outcome(name: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """``{"group_name", "exit_codes"}`` for a ``succeeded`` event; the matching provider error otherwise."""
    status = event.get("status")
    codes = dict(event.get("exit_codes") or {})
    if status == "succeeded":
        return {"group_name": name, "exit_codes": codes}
    if status == "ready":
        return {"group_name": name, "state": "Running", "ip_address": event.get("ip_address")}
    message = event.get("message") or f"container group {name!r}: {status}"
    if status == "timeout":
        raise DeadlineExceededError(message, code="Timeout")
    if status == "failed":
        failed = {c: code for c, code in codes.items() if code != 0}
        raise RemoteWorkFailedError(
            f"container group {name!r}: containers failed: {failed}" + (f" ({message})" if message else ""),
            code="ContainerFailed",
        )
    raise AzureComputeRemoteError(message, code="Error")


def record_group(operator: LineageMixin, hook: ContainerInstancesHook, name: str) -> None:
    """Record container group ``name``, by its ARM resource id, as the task's OpenLineage run facet."""
    settings = hook.settings
    operator.record_lineage(
        external_id=f"/subscriptions/{settings.subscription_id}/resourceGroups/{settings.resource_group}"
        f"/providers/Microsoft.ContainerInstance/containerGroups/{name}",
        source=settings.endpoint,
    )


class ContainerInstancesRunGroupOperator(LineageMixin, BaseOperator):
    """Create (or reattach to) a container group, wait until its containers terminate, then clean up.

    Returns ``{"group_name": ..., "exit_codes": {container: code}}``; any non-zero exit raises
    `RemoteWorkFailedError` (after the logs are printed).

    :param containers: the containers, as `ContainerSpec`
        or mappings with its fields (templated). For one container, give ``image`` (and ``command``,
        ``environment``, ``secure_environment``, ``cpu``, ``memory_gb``, ``gpu_count``, ``gpu_sku``)
        instead: they build a container named ``main``.
    :param group_name: default derived from dag, run, task and map index (lower case, <= 63).
    :param azure_conn_id: ``azure_compute_aci`` connection (subscription, resource group, default region).
    :param location: region; default the connection's.
    :param os_type: ``Linux`` or ``Windows``.
    :param restart_policy: ``Never`` (default), ``OnFailure`` or ``Always`` (never terminates by itself).
    :param secure_env_conn_id: connection holding the values of the containers' ``secure_environment``
        and of secret volume files.
    :param registry_conn_id: image registry login: host = server, login = user name, password; or an
        extra ``identity`` (managed identity resource id) instead of the password.
    :param identity: ``"SystemAssigned"`` and/or user-assigned managed identity resource ids.
    :param subnet_ids: subnet resource ids to deploy into (virtual network).
    :param tags: extra tags; ``airflow_dag_id``, ``airflow_run_id`` and ``airflow_task_id`` are always set.
    :param cleanup: ``keep``, ``delete`` or ``delete_on_success`` (default), applied in ``finally``.
    :param poll_interval: seconds between status checks.
    :param logging_interval: seconds between log prints while waiting; ``None`` prints at the end only.
    :param log_tail: at most this many lines per container per print.
    :param timeout: give up after this long (absolute deadline across deferrals); the group is stopped.
    :param on_kill_action: ``delete`` (default), ``stop`` or ``keep`` the group if the task is killed.
    :param volumes: the group's volumes, as `VolumeSpec`
        or mappings with its fields (templated); containers mount them with ``volume_mounts``.
    :param wait_for: ``terminated`` (default: a job) or ``running``: a service-like group; the task
        succeeds once every container runs (returning ``{"group_name", "state", "ip_address"}``) and the
        group is left running (delete it later with `ContainerInstancesDeleteGroupsOperator`).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``, else True).
    """

    template_fields: Sequence[str] = (
        "containers",
        "image",
        "command",
        "environment",
        "group_name",
        "azure_conn_id",
        "location",
        "tags",
        "subnet_ids",
        "identity",
        "volumes",
    )
    template_fields_renderers = {
        "containers": "json",
        "environment": "json",
        "tags": "json",
        "volumes": "json",
    }
    operator_extra_links = (ContainerGroupLink(),)
    ui_color = "#0078d4"

    def __init__(
        self,
        *,
        containers: Sequence[ContainerSpec | Mapping[str, Any]] | None = None,
        image: str | None = None,
        command: Sequence[str] = (),
        environment: Mapping[str, str] | None = None,
        secure_environment: Mapping[str, str] | None = None,
        cpu: float = 1.0,
        memory_gb: float = 1.5,
        gpu_count: int = 0,
        gpu_sku: str | None = None,
        group_name: str | None = None,
        azure_conn_id: str | None = None,
        location: str | None = None,
        os_type: str = "Linux",
        restart_policy: str = "Never",
        secure_env_conn_id: str | None = None,
        registry_conn_id: str | None = None,
        identity: str | Sequence[str] | None = None,
        subnet_ids: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        cleanup: CleanupPolicy | str = CleanupPolicy.DELETE_ON_SUCCESS,
        poll_interval: float = 10.0,
        logging_interval: float | None = 60.0,
        log_tail: int = 1000,
        timeout: timedelta | float | None = None,
        on_kill_action: OnKillAction | str = OnKillAction.DELETE,
        volumes: Sequence[VolumeSpec | Mapping[str, Any]] | None = None,
        wait_for: WaitFor | str = WaitFor.TERMINATED,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        if (containers is None) == (image is None):
            raise AzureComputeConfigError(
                "give either containers or image (one container)", field="containers"
            )
        self.containers = containers
        self.image = image
        self.command = command
        self.environment = environment
        self.single = {
            "secure_environment": dict(secure_environment or {}),
            "cpu": cpu,
            "memory_gb": memory_gb,
            "gpu_count": gpu_count,
            "gpu_sku": gpu_sku,
        }
        self.group_name = group_name
        self.azure_conn_id = azure_conn_id
        self.location = location
        self.os_type = os_type
        self.restart_policy = restart_policy
        self.secure_env_conn_id = secure_env_conn_id
        self.registry_conn_id = registry_conn_id
        self.identity = identity
        self.subnet_ids = subnet_ids
        self.tags = tags
        self.cleanup = CleanupPolicy.parse(cleanup, field="cleanup")
        self.poll_interval = float(poll_interval)
        self.logging_interval = logging_interval
        self.log_tail = int(log_tail)
        self.timeout = timeout
        self.on_kill_action = OnKillAction.parse(on_kill_action, field="on_kill_action")
        self.volumes = volumes
        self.wait_for = WaitFor.parse(wait_for, field="wait_for")
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._group: str | None = None

    # -- inputs ---------------------------------------------------------------------------------------

    def specs(self) -> list[ContainerSpec]:
        if self.image is not None:
            return [
                ContainerSpec(
                    name="main",
                    image=self.image,
                    command=self.command if isinstance(self.command, str) else list(self.command),
                    environment=dict(self.environment or {}),
                    **self.single,  # type: ignore[arg-type]
                )
            ]
        return [ContainerSpec.coerce(c) for c in self.containers or ()]

    def plan(self, context: Context, location: str) -> GroupPlan:
        """The group to create, secrets left as references to their connections (validated here)."""
        from airflow_azure_compute.hooks.secret_refs import registries_from

        plan = plan_group(
            self.specs(),
            location=location,
            os_type=self.os_type,
            restart_policy=self.restart_policy,
            registries=registries_from(self.registry_conn_id),
            registry_conn_id=self.registry_conn_id,
            secure_env_conn_id=self.secure_env_conn_id,
            identity=self.identity,
            subnet_ids=list(self.subnet_ids),
            tags={**dict(self.tags or {}), **run_metadata(context)},
            volumes=[VolumeSpec.coerce(v) for v in self.volumes or ()],
        )
        plan.check_connections()
        return plan

    # -- execution ------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from airflow_azure_compute.hooks.secret_refs import resolve_secrets

        dag_id, run_id, _, _ = run_scope(context)
        name = validate_group_name(self.group_name or derive_group_name(*run_scope(context)))
        hook = _hook(self.azure_conn_id)
        plan = self.plan(context, self.location or hook.settings.region or "")
        body = resolve_secrets(plan)  # every secret resolvable before anything is created
        self._group = name
        existing = hook.get_group(name)
        if existing is not None and not created_by_run(existing.get("tags"), dag_id, run_id):
            raise AzureComputeRemoteError(
                f"container group {name!r} exists and was not created by this dag run; choose another group_name",
                code="Conflict",
            )
        if existing is not None and evaluate_group(existing).terminal:
            self.log.info("container group %s finished in an earlier try; replacing it", name)
            hook.delete_group(name)
            existing = None
        settings = hook.settings
        ContainerGroupLink.persist(
            context,
            **arm_scope(settings),
            group_name=name,
        )
        self._record_group(hook, name)
        deadline = deadline_after(self.timeout)
        if existing is not None:
            self.log.info("reattached to running container group %s", name)
        if self.deferrable:
            # The trigger creates a missing group: nothing exists that no one would delete on kill.
            self._defer(name, deadline, {}, plan if existing is None else None)
        if existing is None:
            hook.create_group(name, body)
            self.log.info("created container group %s (%d container(s))", name, len(self.specs()))
        return self._with_cleanup(hook, name, lambda: self._wait(hook, name, deadline, {}))

    def _record_group(self, hook: ContainerInstancesHook, name: str) -> None:
        """The container group, by its ARM resource id, for OpenLineage."""
        record_group(self, hook, name)

    def execute_complete(self, context: Context, event: ContainerGroupEvent, **kwargs: Any) -> Any:
        """Resume from the trigger: print the lines it has not printed yet, then finish.

        The group name, deadline and log cursors come back in the event as well as in the defer kwargs.
        """
        hook = _hook(self.azure_conn_id)
        name = str(kwargs.get("group_name") or event["group_name"])
        deadline = kwargs.get("deadline", event.get("deadline"))
        cursors = dict(event.get("log_cursors") or kwargs.get("cursors") or {})
        self._group = name
        self._record_group(hook, name)

        def resume() -> Any:
            logs = self._print_logs(hook, name, event.get("exit_codes", {}), cursors)
            if event.get("status") == "running":  # an event of a trigger serialized by an older release
                self._defer(name, deadline, logs, None)
            return self._finish(hook, name, event)

        return self._with_cleanup(hook, name, resume)

    def _wait(
        self, hook: ContainerInstancesHook, name: str, deadline: float | None, cursors: dict[str, str]
    ) -> Any:
        """The non-deferrable wait: poll on the worker, printing logs every ``logging_interval``."""
        # The trigger module (and airflow.triggers.base) is loaded only when a task runs, not at DAG parsing.
        from airflow_azure_compute.triggers.container_instances import evaluate

        last_print = time.monotonic()
        while True:
            body = hook.get_group(name)
            event = evaluate(name, body, deadline=deadline, now=time.time(), wait_for=self.wait_for)
            containers = evaluate_group(body).exit_codes if body else {}
            if event is not None:
                self._print_logs(hook, name, containers, cursors)
                return self._finish(hook, name, event)
            interval = to_seconds(self.logging_interval)
            if interval is not None and time.monotonic() - last_print >= interval:
                cursors = self._print_logs(hook, name, containers, cursors)
                last_print = time.monotonic()
            time.sleep(self.poll_interval)

    def _defer(
        self, name: str, deadline: float | None, cursors: dict[str, str], plan: GroupPlan | None
    ) -> None:
        from airflow_azure_compute.triggers.container_instances import ContainerGroupTrigger

        self.defer(
            trigger=ContainerGroupTrigger(
                group_name=name,
                conn_id=self.azure_conn_id,
                poll_interval=self.poll_interval,
                deadline=deadline,
                logging_interval=to_seconds(self.logging_interval),
                on_kill_action=self.on_kill_action.value,
                log_cursors=cursors,
                plan=None if plan is None else plan.to_dict(),
                wait_for=self.wait_for.value,
                log_tail=self.log_tail,
            ),
            method_name="execute_complete",
            kwargs={"group_name": name, "deadline": deadline, "cursors": cursors},
        )

    def _print_logs(
        self, hook: ContainerInstancesHook, name: str, containers: Iterable[str], cursors: dict[str, str]
    ) -> dict[str, str]:
        return print_new_logs(hook, name, containers, cursors, tail=self.log_tail, log=self.log)

    def _finish(self, hook: ContainerInstancesHook, name: str, event: Mapping[str, Any]) -> dict[str, Any]:
        self.log.info("container group %s: %s", name, event.get("summary") or event.get("status"))
        if event.get("status") == "timeout" and not should_delete(self.cleanup, False):
            hook.stop_group(name)
        if event.get("status") == "ready":
            self.log.info("container group %s is running (ip %s)", name, event.get("ip_address") or "-")
        return group_outcome(name, event)

    def _with_cleanup(self, hook: ContainerInstancesHook, name: str, step: Callable[[], T]) -> T:
        """Run ``step``; unless it deferred, apply the cleanup policy in ``finally``.

        A group waited for until ``running`` is a service: it is left running after success.
        """

        def clean_up(succeeded: bool) -> None:
            serving = succeeded and self.wait_for is WaitFor.RUNNING
            if not serving and should_delete(self.cleanup, succeeded):
                try:
                    hook.delete_group(name)
                    self.log.info("deleted container group %s (cleanup=%s)", name, self.cleanup.value)
                except AzureComputeError as err:  # never hide the task's own outcome
                    self.log.warning("delete of container group %s failed: %s", name, err)

        return run_then_clean_up(step, clean_up)

    def on_kill(self) -> None:
        if self._group is None or self.on_kill_action is OnKillAction.KEEP:
            return
        hook = _hook(self.azure_conn_id)
        if self.on_kill_action is OnKillAction.STOP:
            hook.stop_group(self._group)
        else:
            hook.delete_group(self._group, wait=False)


class ContainerInstancesDeleteGroupsOperator(BaseOperator):
    """Delete container groups: by name, and/or every group this dag run created (by its tags).

    :param group_names: names to delete (templated); missing ones are skipped.
    :param created_by_this_run: also delete every group tagged with this dag run.
    :param azure_conn_id: ``azure_compute_aci`` connection id.
    """

    template_fields: Sequence[str] = ("group_names", "azure_conn_id")

    def __init__(
        self,
        *,
        group_names: Sequence[str] = (),
        created_by_this_run: bool = False,
        azure_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        azure_conn_id = renamed_argument(kwargs, "conn_id", "azure_conn_id", azure_conn_id, owner=type(self))
        super().__init__(**kwargs)
        self.group_names = group_names
        self.created_by_this_run = created_by_this_run
        self.azure_conn_id = azure_conn_id

    def execute(self, context: Context) -> list[str]:
        names = [validate_group_name(n, field_name="group_names") for n in self.group_names]
        hook = _hook(self.azure_conn_id)
        if self.created_by_this_run:
            dag_id, run_id, _, _ = run_scope(context)
            names += [g["name"] for g in hook.list_groups() if created_by_run(g.get("tags"), dag_id, run_id)]
        deleted = [n for n in dict.fromkeys(names) if hook.get_group(n) is not None]
        for name in deleted:
            hook.delete_group(name)
        self.log.info("deleted container groups: %s", deleted or "none")
        return deleted


class ContainerInstancesExecOperator(BaseOperator):
    """Run a command in a running container of a group (e.g. a service started with
    ``wait_for="running"``) and return its output; the output is also printed to the task log.

    ACI runs the command without a shell (give ``"sh -c '...'"`` for one) and reports no exit code:
    check the output. Not retried by itself (a command is not idempotent).

    :param group_name: the container group (templated).
    :param container: the container, which must be running (templated).
    :param command: the command line (templated).
    :param exec_timeout: seconds to wait for the command to end.
    :param azure_conn_id: ``azure_compute_aci`` connection id.
    """

    template_fields: Sequence[str] = ("group_name", "container", "command", "azure_conn_id")

    def __init__(
        self,
        *,
        group_name: str,
        container: str,
        command: str,
        exec_timeout: float = 300,
        azure_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_name = group_name
        self.container = container
        self.command = command
        self.exec_timeout = exec_timeout
        self.azure_conn_id = azure_conn_id

    def execute(self, context: Context) -> str:
        name = validate_group_name(self.group_name)
        if not str(self.command or "").strip():
            raise AzureComputeConfigError("command: give the command line to run", field="command")
        output = _hook(self.azure_conn_id).exec_command(
            name, self.container, self.command, timeout=self.exec_timeout
        )
        for line in output.splitlines():
            self.log.info("[%s] %s", self.container, line)
        return output


__all__ = [
    "ContainerInstancesDeleteGroupsOperator",
    "ContainerInstancesExecOperator",
    "ContainerInstancesRunGroupOperator",
    "connection_value",
    "group_outcome",
    "print_new_logs",
    "record_group",
]
