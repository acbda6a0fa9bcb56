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

Pure: no I/O, no Airflow import; operators call `RunWorkspace.for_context`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_azure_compute.blob_paths import check_container_name, normalize_prefix

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
    def for_run(cls, dag_id: str, run_id: str, *, container: str | None = None) -> RunWorkspace:
        """The workspace of ``(dag_id, run_id)``: per-run containers, or a per-run prefix in ``container``."""
        if container:
            check_container_name(container, field="container")
            stem = _container_stem("run", dag_id, run_id, max_len=63)
            prefix = normalize_prefix(f"runs/{stem}/")
            return cls(container, container, prefix, dag_id, run_id)
        name = _container_stem("ws", dag_id, run_id, max_len=63 - len(OUTPUT_SUFFIX))
        return cls(name, name + OUTPUT_SUFFIX, "", dag_id, run_id)

    @classmethod
    def for_context(cls, context: Mapping[str, Any], *, container: str | None = None) -> RunWorkspace:
        """The workspace of the running task's DAG run (see `for_run`)."""
        ti = context["ti"]
        return cls.for_run(ti.dag_id, ti.run_id, container=container)

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


__all__ = ["OUTPUT_SUFFIX", "RunWorkspace"]
