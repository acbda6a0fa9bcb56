"""``@task.azure_batch``: run a decorated function on an Azure Batch node.

Registered through the provider info (``task-decorators``), so a DAG writes::

    @task.azure_batch(pool_id="python-pool")
    def fit(rows: list[int]) -> float: ...

The decorator only builds a `BatchPythonOperator`
(arguments, XComArgs included, are resolved by Airflow and pickled by the operator); everything else
happens there. ``.expand()`` and ``.partial()`` work as for any TaskFlow task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

from airflow_azure_compute.operators.batch_python import BatchPythonOperator

if TYPE_CHECKING:
    from airflow.sdk.bases.decorator import TaskDecorator


class _BatchPythonDecoratedOperator(DecoratedOperator, BatchPythonOperator):
    """The operator ``@task.azure_batch`` builds: ``DecoratedOperator`` argument handling over
    `BatchPythonOperator`."""

    custom_operator_name = "@task.azure_batch"
    template_fields: Sequence[str] = BatchPythonOperator.template_fields
    template_fields_renderers = BatchPythonOperator.template_fields_renderers

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kwargs_to_upstream={
                "python_callable": python_callable,
                "op_args": op_args,
                "op_kwargs": op_kwargs,
            },
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


def azure_batch_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """Run the decorated function on Azure Batch (``@task.azure_batch``).

    Takes the arguments of `BatchPythonOperator`
    (``pool_id`` is required) and of any operator (``task_id``, ``retries``, ...).

    :param python_callable: the function (given when the decorator is used without parentheses).
    :param multiple_outputs: push each key of a returned dict as its own XCom.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_BatchPythonDecoratedOperator,
        **kwargs,
    )


__all__ = ["azure_batch_task"]
