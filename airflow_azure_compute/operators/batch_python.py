"""Python functions on Batch: one call (`BatchPythonOperator`, behind ``@task.azure_batch``) or a
map over many inputs in one Airflow task (`BatchMapOperator`).

The path both take (check and pickle, look at the pool, stage, submit, wait, collect) and their shared
parameters are in `BatchPythonBaseOperator`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.operators._batch_python_base import (
    POOL_PYTHON_KEY,
    BatchPythonBaseOperator,
    PythonRunResults,
    choose_chunk_size,
    pool_slots,
)

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context


class BatchPythonOperator(BatchPythonBaseOperator):
    """Run ``python_callable(*op_args, **op_kwargs)`` on a Batch node; its return value is the XCom.

    What ``@task.azure_batch`` builds. An exception the function raises on the node is raised again here
    (its own class when it unpickles on the worker, else
    `RemoteFunctionError`) with the node's traceback as its
    cause; the function's stdout and stderr are written to the task log.

    :param op_args: positional arguments (templated; XComArgs resolve before the call is pickled).
    :param op_kwargs: keyword arguments (templated).
    :param max_xcom_bytes: largest pickled return value accepted for XCom; a larger one fails the task
        with a clear error (write big results to Blob Storage, or use `BatchMapOperator`, which
        keeps large results in the run workspace).

    The other parameters are those of `BatchPythonBaseOperator`.
    """

    template_fields: Sequence[str] = (*BatchPythonBaseOperator.template_fields, "op_args", "op_kwargs")
    template_fields_renderers = {
        **BatchPythonBaseOperator.template_fields_renderers,
        "op_args": "py",
        "op_kwargs": "py",
    }
    mode = "call"

    def __init__(
        self,
        *,
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        max_xcom_bytes: int = 1 << 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.op_args: Collection[Any] = list(op_args or [])
        self.op_kwargs: Mapping[str, Any] = dict(op_kwargs or {})
        self.max_xcom_bytes = max_xcom_bytes

    def call_items(self) -> tuple[list[Any], bool]:
        from airflow_azure_compute import python_shipping as ship

        modules = ship.by_value_modules(self.python_callable, self.ship_modules)
        for i, value in enumerate(self.op_args):
            ship.pickle_value(value, f"positional argument #{i}", field="op_args", modules=modules)
        for key, value in self.op_kwargs.items():
            ship.pickle_value(value, f"argument {key!r}", field="op_kwargs", modules=modules)
        return [(tuple(self.op_args), dict(self.op_kwargs))], False

    def deliver(self, context: Context, results: PythonRunResults) -> Any:
        import pickle

        from airflow_azure_compute.python_results import ItemError, rebuild_exception

        plan, workspace = results.plan, results.workspace
        self.log_remote_output(workspace, plan, 0)
        self.blob.delete_prefix(workspace.output_container, plan.outputs)
        status, value = results.outcomes[0]
        name = getattr(self.python_callable, "__qualname__", "the function")
        if status != "ok":
            error = ItemError.from_record(0, value)
            raise rebuild_exception(
                error, context=f"{name} raised on Batch (job {plan.job_id}):", sources=self.source_files()
            )
        size = len(pickle.dumps(value))
        if size > self.max_xcom_bytes:
            raise AzureComputeConfigError(
                f"{name} returned {size:,} bytes (pickled), more than max_xcom_bytes={self.max_xcom_bytes:,}: "
                "XCom is for small values. Write large results to Blob Storage and return their names, "
                "or use BatchMapOperator, which keeps large results in the run workspace.",
                field="max_xcom_bytes",
            )
        return value


class BatchMapOperator(BatchPythonBaseOperator):
    """Map ``python_callable`` over ``items`` on Batch, several items per Batch task, in one Airflow task.

    One job, one bulk submission, one wait whatever the number of items. Returns the XCom value described
    in `airflow_azure_compute.python_results` (read it with
    `from_xcom`): the results in input order,
    inline when small, else in a manifest in the run workspace read lazily; the items' errors beside them.
    Results kept in a manifest are reported as an Asset event of the manifest blob
    (``wasbs://<output container>@<account>/<prefix>manifest.json``, extra ``{"items", "errors"}``).

    :param items: the inputs (templated; an XComArg works). Each is passed as the one argument, or
        unpacked with ``star=True``.
    :param star: call ``python_callable(*item)`` (a starmap).
    :param chunk_size: items per Batch task; by default chosen so every task slot of the pool gets about
        four tasks.
    :param on_item_error: ``fail`` (default): after all items ran, raise the first item's exception with
        its remote traceback; ``return``: return the errors beside the results (None in their places).
    :param results: ``auto`` (inline up to ``max_xcom_bytes``, else a manifest), ``xcom`` or ``manifest``.
    :param max_xcom_bytes: the inline limit of ``auto``, in pickled bytes.

    The other parameters are those of `BatchPythonBaseOperator`.
    """

    template_fields: Sequence[str] = (*BatchPythonBaseOperator.template_fields, "items")
    template_fields_renderers = {**BatchPythonBaseOperator.template_fields_renderers, "items": "json"}
    mode = "map"
    writes_blobs = True

    def __init__(
        self,
        *,
        items: Sequence[Any],
        star: bool = False,
        chunk_size: int | None = None,
        on_item_error: str = "fail",
        results: str = "auto",
        max_xcom_bytes: int = 256 * 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_item_error not in ("fail", "return"):
            raise AzureComputeConfigError(f"{on_item_error!r}; use 'fail' or 'return'", field="on_item_error")
        if results not in ("auto", "xcom", "manifest"):
            raise AzureComputeConfigError(f"{results!r}; use 'auto', 'xcom' or 'manifest'", field="results")
        if chunk_size is not None and chunk_size < 1:
            raise AzureComputeConfigError("must be 1 or more", field="chunk_size")
        self.items = items
        self.star = star
        self.fixed_chunk_size = chunk_size
        self.on_item_error = on_item_error
        self.results = results
        self.max_xcom_bytes = max_xcom_bytes

    def call_items(self) -> tuple[list[Any], bool]:
        if isinstance(self.items, (str, bytes, Mapping)) or not hasattr(self.items, "__iter__"):
            raise AzureComputeConfigError(
                f"items must be a list (got a {type(self.items).__name__})", field="items"
            )
        return list(self.items), self.star

    def chunk_size(self, count: int, pool: Mapping[str, Any]) -> int:
        return self.fixed_chunk_size or choose_chunk_size(count, pool_slots(pool))

    def deliver(self, context: Context, results: PythonRunResults) -> Any:
        import pickle

        from airflow_azure_compute.python_results import (
            manifest_body,
            map_xcom,
            rebuild_exception,
            split_outcomes,
        )

        plan, workspace = results.plan, results.workspace
        values, errors = split_outcomes(0, results.outcomes)
        count = len(values)
        self.log.info("items: %d/%d done, %d raised", count - len(errors), count, len(errors))
        if errors and self.on_item_error == "fail":
            first = errors[0]
            for error in errors[:5]:
                self.log.error("item #%d raised %s: %s", error.index, error.type, error.message)
            raise rebuild_exception(
                first,
                context=f"item #{first.index} of {count} raised on Batch ({len(errors)} item(s) failed):",
                sources=self.source_files(),
            )
        inline = self.results == "xcom" or (
            self.results == "auto" and len(pickle.dumps(values)) <= self.max_xcom_bytes
        )
        blob = self.blob
        if inline:
            blob.delete_prefix(workspace.output_container, plan.outputs)
            return map_xcom(count, errors, results=values)
        starts = results.starts
        ends = [*starts[1:], count]
        chunks = [
            {"blob": plan.output(i, "result.pkl"), "start": start, "count": end - start}
            for i, (start, end) in enumerate(zip(starts, ends, strict=True))
        ]
        name = f"{plan.outputs}manifest.json"
        blob.upload_bytes(
            workspace.output_container,
            name,
            manifest_body(count, workspace.output_container, chunks, errors),
            overwrite=True,
        )
        self.log.info("results kept in %s/%s (%d chunk(s))", workspace.output_container, name, plan.chunks)
        self.report_outputs(
            context, workspace.output_container, [name], {"items": count, "errors": len(errors)}
        )
        return map_xcom(
            count,
            errors,
            manifest={"container": workspace.output_container, "blob": name, "conn_id": self.blob_conn_id},
        )


__all__ = [
    "POOL_PYTHON_KEY",
    "BatchMapOperator",
    "BatchPythonBaseOperator",
    "BatchPythonOperator",
    "choose_chunk_size",
    "pool_slots",
]
