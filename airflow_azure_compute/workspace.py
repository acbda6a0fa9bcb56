"""The run workspace: the one place in Blob Storage that a DAG run reads and writes by default.

Every DAG run gets its own pair of containers, named deterministically from the dag id and run id, so
two runs of a scheduled DAG never see each other's blobs and a retried task finds what its earlier try
wrote::

    ws-<dag stem>-<digest>        inputs: chunks, staged programs, pickled functions
    ws-<dag stem>-<digest>-out    outputs written by remote compute (a write-only SAS reaches only this)

Outputs live in a container of their own so that the SAS a remote task holds to write its results can
neither read nor overwrite the run's inputs. A DAG that wants one long-lived container instead names it
(``container=``); the workspace then becomes a per-run prefix inside it. The cleanup operators delete a
run's workspace exactly: its own containers, or its own prefix in a named container.

Operators resolve where they read and write with `locate`: no container means the run's own
containers, a container without a prefix means the run's prefix inside it, and both given mean exactly
that place (as before the workspace existed). Templates reach the workspace through the provider's
macro, ``{{ macros.azure_compute.workspace(ti).container }}`` (see `airflow_azure_compute.plugins.macros`),
and every Blob and Batch operator returns it under ``"workspace"`` (or pushes it as the XCom
``workspace``).

Pure: no I/O, no Airflow import; operators call `RunWorkspace.for_context`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_azure_compute.blob_paths import check_container_name, normalize_prefix
from airflow_azure_compute.exceptions import AzureComputeConfigError

#: The suffix of the outputs container of a per-run workspace.
OUTPUT_SUFFIX = "-out"
_NAME_UNSAFE = re.compile(r"[^a-z0-9]+")


def _container_stem(kind: str, dag_id: str, run_id: str, *, max_len: int) -> str:
    """``{kind}-{dag stem}-{12 hex digest}``: lowercase, single hyphens, at most ``max_len`` characters."""
    digest = hashlib.sha256(f"{kind}\x1f{dag_id}\x1f{run_id}".encode()).hexdigest()[:12]
    stem = _NAME_UNSAFE.sub("-", f"{kind}-{dag_id}".lower()).strip("-")
    return f"{stem[: max_len - 13].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class RunWorkspace:
    """Where one DAG run keeps its blobs.

    :param container: holds the run's inputs (chunks, programs, staged functions).
    :param output_container: receives what remote compute writes; never holds inputs.
    :param prefix: ``""`` in per-run containers, ``"<dag>/<run>/"``-style inside a named container;
        always ends with ``/`` when set.
    :param dag_id: the DAG run's dag id.
    :param run_id: the DAG run's run id.
    """

    container: str
    output_container: str
    prefix: str
    dag_id: str
    run_id: str

    @classmethod
    def for_run(
        cls, dag_id: str, run_id: str, *, container: str | None = None, field: str = "container"
    ) -> RunWorkspace:
        """The workspace of ``(dag_id, run_id)``: per-run containers, or a per-run prefix in ``container``
        (whose name is checked, an error naming ``field``)."""
        if container:
            check_container_name(container, field=field)
            stem = _container_stem("run", dag_id, run_id, max_len=63)
            prefix = normalize_prefix(f"runs/{stem}/")
            return cls(container, container, prefix, dag_id, run_id)
        name = _container_stem("ws", dag_id, run_id, max_len=63 - len(OUTPUT_SUFFIX))
        return cls(name, name + OUTPUT_SUFFIX, "", dag_id, run_id)

    @classmethod
    def for_context(
        cls, context: Mapping[str, Any], *, container: str | None = None, field: str = "container"
    ) -> RunWorkspace:
        """The workspace of the running task's DAG run (see `for_run`)."""
        return cls.for_ti(context["ti"], container=container, field=field)

    @classmethod
    def for_ti(cls, ti: Any, *, container: str | None = None, field: str = "container") -> RunWorkspace:
        """The workspace of a task instance's DAG run (anything with ``dag_id`` and ``run_id``)."""
        return cls.for_run(str(ti.dag_id), str(ti.run_id), container=container, field=field)

    @property
    def owns_containers(self) -> bool:
        """Whether the containers belong to this run alone (cleanup deletes them whole)."""
        return self.prefix == ""

    @property
    def containers(self) -> list[str]:
        """The distinct containers of the workspace, inputs first."""
        return list(dict.fromkeys((self.container, self.output_container)))

    def path(self, *parts: str) -> str:
        """A blob name (or prefix, when the last part ends with ``/``) inside the workspace."""
        return (
            self.prefix
            + "/".join(p.strip("/") for p in parts if p.strip("/"))
            + ("/" if parts and parts[-1].endswith("/") else "")
        )

    def to_dict(self) -> dict[str, str]:
        """A JSON-safe form for XCom and templates."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> RunWorkspace:
        return cls(**{k: data[k] for k in ("container", "output_container", "prefix", "dag_id", "run_id")})


def is_template(value: object) -> bool:
    """Whether a declared parameter value is a Jinja template (rendered before ``execute``)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass(frozen=True)
class Location:
    """Where an operator reads or writes: the run's workspace, and the container and prefix used."""

    workspace: RunWorkspace
    container: str
    prefix: str


def locate(
    context: Mapping[str, Any],
    container: str | None,
    prefix: str | None,
    *,
    default: str = "",
    outputs: bool = False,
    declared_prefix: object = None,
    container_field: str = "container",
    prefix_field: str = "prefix",
) -> Location:
    """Resolve an operator's container and prefix against the run's workspace.

    * no ``container``: the run's own container (its outputs container when ``outputs``), and
      ``prefix`` (default ``default``) inside it;
    * a ``container`` but no ``prefix``: the run's prefix in that container, plus ``default``;
    * both: exactly that place, as given.

    ``prefix=None`` means "not given". A prefix that was declared as a template (``declared_prefix``,
    the value before rendering) and rendered to an empty string is an error naming ``prefix_field``:
    an empty prefix would be the whole container, which other runs share.

    A mapped task instance (``map_index >= 0``) gets ``<default>/<map index>/`` as its default, so the
    instances of one ``.expand()`` never share a place.
    """
    map_index = getattr(context["ti"], "map_index", None)
    if default and map_index is not None and int(map_index) >= 0:
        default = f"{default.rstrip('/')}/{int(map_index)}/"
    if container:
        workspace = RunWorkspace.for_context(context, container=container, field=container_field)
        name = workspace.container
    else:
        workspace = RunWorkspace.for_context(context)
        name = workspace.output_container if outputs else workspace.container
    if prefix is None:
        return Location(workspace, name, workspace.path(default) if default else workspace.prefix)
    if not isinstance(prefix, str):
        raise AzureComputeConfigError(f"expected a string, got {type(prefix).__name__}", field=prefix_field)
    normalized = normalize_prefix(prefix, field=prefix_field)
    if not normalized and (is_template(declared_prefix) or not isinstance(declared_prefix, str)):
        raise AzureComputeConfigError(
            f"the template {declared_prefix!r} rendered an empty prefix, which is the whole container; "
            "leave the prefix unset to use the run's workspace, or make the template render a path such "
            "as 'runs/{{ run_id }}/'"
            if is_template(declared_prefix)
            else "the prefix is empty, which is the whole container; leave it unset to use the run's "
            "workspace, or give a path such as 'runs/{{ run_id }}/'",
            field=prefix_field,
        )
    if not container:
        return Location(workspace, name, workspace.path(normalized) if normalized else workspace.prefix)
    return Location(workspace, name, normalized)


__all__ = ["OUTPUT_SUFFIX", "Location", "RunWorkspace", "is_template", "locate"]
