"""What to do with remote resources when a task ends: a policy, applied in ``finally``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_azure_compute.enums import StrEnum
from airflow_azure_compute.exceptions import AzureComputeRemoteError

T = TypeVar("T")


class CleanupPolicy(StrEnum):
    """Cleanup of what a task created (container group, orchestration history, ...).

    ``keep`` leaves it; ``delete`` always removes it; ``delete_on_success`` removes it only when the
    work succeeded, so a failure can be inspected.
    """

    KEEP = "keep"
    DELETE = "delete"
    DELETE_ON_SUCCESS = "delete_on_success"


def should_delete(policy: CleanupPolicy, succeeded: bool) -> bool:
    """Whether ``policy`` removes the resource after work that ``succeeded`` (or not)."""
    return policy is CleanupPolicy.DELETE or (policy is CleanupPolicy.DELETE_ON_SUCCESS and succeeded)


def run_then_clean_up(step: Callable[[], T], clean_up: Callable[[bool], None]) -> T:
    """Run ``step``; unless it deferred, call ``clean_up(succeeded)`` in ``finally``.

    A task that defers has handed its work to a trigger: nothing is cleaned up until it resumes.
    """
    from airflow.sdk.exceptions import TaskDeferred

    succeeded: bool | None = None
    try:
        value = step()
        succeeded = True
        return value
    except TaskDeferred:
        raise
    except BaseException:
        succeeded = False
        raise
    finally:
        if succeeded is not None:
            clean_up(succeeded)


class RendersEachField:
    """Mixin of teardown operators: a template field that fails to render does not stop the others.

    Airflow renders every template field before ``execute`` and fails the task at the first error, so a
    teardown whose ``containers`` pulled the XCom of a failed task would delete nothing, not even a
    pool with a fixed id. Here each field renders on its own; one that fails is set to ``None`` and its
    error kept in `unrendered`, so ``execute`` deletes everything it can still determine and then
    fails, naming the fields (see `CleanupReport`).
    """

    template_fields: Sequence[str]
    unrendered: dict[str, str]

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        if not jinja_env:
            jinja_env = self.get_template_env()  # type: ignore[attr-defined]
        self.unrendered = {}
        for name in self.template_fields:
            try:
                self._do_render_template_fields(self, [name], context, jinja_env, set())  # type: ignore[attr-defined]
            except Exception as err:
                self.unrendered[name] = f"{type(err).__name__}: {err}"
                setattr(self, name, None)


@dataclass
class CleanupReport:
    """What a teardown deleted, kept and could not delete; fails at the end, never half-way."""

    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unrendered: Mapping[str, str] = field(default_factory=dict)

    def attempt(self, label: str, call: Callable[[], T]) -> T | None:
        """``call()``; an error is recorded against ``label`` (``job:<id>``) instead of raised."""
        try:
            return call()
        except Exception as err:
            self.failed.append(f"{label} ({type(err).__name__}: {getattr(err, 'message', None) or err})")
            return None

    def raise_if_incomplete(self) -> None:
        """Fail naming every field that did not render and every resource that was not deleted."""
        problems = [f"field {name!r} did not render ({why})" for name, why in self.unrendered.items()]
        problems += [f"could not delete {what}" for what in self.failed]
        if problems:
            raise AzureComputeRemoteError(
                "cleanup incomplete: " + "; ".join(problems) + f". Deleted: {self.deleted or 'nothing'}",
                code="CleanupIncomplete",
            )


__all__ = ["CleanupPolicy", "CleanupReport", "RendersEachField", "run_then_clean_up", "should_delete"]
