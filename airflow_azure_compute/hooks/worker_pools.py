"""A Container Instances worker pool as pure data: blob names, the workers' plans, one progress decision.

The pool's items sit in the run workspace (``<prefix>items/<index>.json``), one queue message names
each, and the workers (`airflow_azure_compute.runtime.queue_worker`) write
``<prefix>results/<index>.json`` or, for a poison item, ``<prefix>failed/<index>.json`` into the
workspace's output container. Progress is therefore one blob listing; nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_azure_compute.hooks.aci_groups import (
    ContainerSpec,
    GroupPlan,
    GroupProgress,
    RegistryCredential,
    SecretRef,
    plan_group,
    secure_value_path,
)
from airflow_azure_compute.runtime.queue_worker import FAILED, RESULTS, result_name

_INDEX = re.compile(r"(\d+)\.json$")
#: The worker container's name in each worker group.
WORKER = "worker"


def item_blob(prefix: str, index: int) -> str:
    return f"{prefix}items/{index:06d}.json"


def index_of(name: str) -> int | None:
    match = _INDEX.search(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class PoolProgress:
    """What one listing of the output prefix says."""

    total: int
    done: frozenset[int] = frozenset()
    failed: frozenset[int] = frozenset()

    @classmethod
    def from_names(cls, total: int, prefix: str, names: Iterable[str]) -> PoolProgress:
        done: set[int] = set()
        failed: set[int] = set()
        for name in names:
            index = index_of(name)
            if index is None or index >= total:
                continue
            if name.startswith(prefix + RESULTS):
                done.add(index)
            elif name.startswith(prefix + FAILED):
                failed.add(index)
        return cls(total, frozenset(done), frozenset(failed - done))

    @property
    def finished(self) -> int:
        return len(self.done) + len(self.failed)

    def summary(self) -> str:
        return f"{self.finished}/{self.total} items done" + (
            f" ({len(self.failed)} failed)" if self.failed else ""
        )


def evaluate_pool(
    progress: PoolProgress,
    workers: Mapping[str, GroupProgress | None],
    *,
    deadline: float | None,
    now: float,
) -> dict[str, Any] | None:
    """The pool's event for one poll, or ``None`` to keep waiting.

    Read ``workers`` before listing ``progress``: a worker that ended after the listing may have written
    the last results, so only a listing taken after the workers ended proves items are missing.
    """
    if progress.finished >= progress.total:
        return {"status": "done", "failed_items": sorted(progress.failed), "summary": progress.summary()}
    if workers and all(w is None or w.terminal for w in workers.values()):
        codes = {name: (w.exit_codes.get(WORKER) if w else None) for name, w in workers.items()}
        return {
            "status": "failed",
            "summary": progress.summary(),
            "message": f"every worker ended (exit codes {codes}) with {progress.total - progress.finished} of "
            f"{progress.total} items unfinished; see the workers' logs",
        }
    if deadline is not None and now >= deadline:
        return {
            "status": "timeout",
            "summary": progress.summary(),
            "message": f"the pool did not finish before the deadline ({progress.summary()})",
        }
    return None


@dataclass(frozen=True, kw_only=True)
class PoolLayout:
    """Where a pool's queue and blobs are.

    :param queue: the pool's queue name.
    :param container: the workspace container holding the items.
    :param output_container: the workspace container receiving results.
    :param prefix: the pool's blob prefix (ends with ``/``).
    :param total: number of items.
    """

    queue: str
    container: str
    output_container: str
    prefix: str
    total: int

    def result(self, index: int, *, failed: bool = False) -> str:
        return result_name(self.prefix, index, failed=failed)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolLayout:
        return cls(**{k: data[k] for k in ("queue", "container", "output_container", "prefix", "total")})


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """How each worker takes items (the protocol's environment).

    :param max_dequeue: takes per item before it is a poison item, reported by index.
    :param visibility_timeout_s: seconds a taken item is hidden from other workers.
    :param idle_s: a worker exits after this many seconds without a message.
    :param sas_expiry_s: lifetime of the SAS URLs the workers get.
    """

    max_dequeue: int = 3
    visibility_timeout_s: int = 300
    idle_s: float = 30.0
    sas_expiry_s: float = 86400.0

    def environment(self, layout: PoolLayout) -> dict[str, str]:
        return {
            "AZ_POOL_PREFIX": layout.prefix,
            "AZ_POOL_MAX_DEQUEUE": str(self.max_dequeue),
            "AZ_POOL_VISIBILITY_S": str(self.visibility_timeout_s),
            "AZ_POOL_IDLE_S": f"{self.idle_s:g}",
        }


def plan_workers(
    names: Sequence[str],
    worker: ContainerSpec,
    layout: PoolLayout,
    settings: WorkerSettings,
    *,
    blob_conn_id: str,
    location: str,
    registries: Sequence[RegistryCredential] = (),
    registry_conn_id: str | None = None,
    secure_env_conn_id: str | None = None,
    identity: Sequence[str] | str | None = None,
    subnet_ids: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
) -> dict[str, GroupPlan]:
    """One group plan per worker: the user's container plus the protocol's environment and SAS URLs.

    The SAS URLs are secrets signed at run time from ``blob_conn_id`` (never in a plan or a log).
    """
    from dataclasses import replace

    spec = replace(
        worker, name=WORKER, environment={**dict(worker.environment), **settings.environment(layout)}
    )
    plans = {}
    for name in names:
        plan = plan_group(
            [spec],
            location=location,
            restart_policy="Never",
            registries=registries,
            registry_conn_id=registry_conn_id,
            secure_env_conn_id=secure_env_conn_id,
            identity=identity,
            subnet_ids=subnet_ids,
            tags=tags,
        )
        env = plan.body["properties"]["containers"][0]["properties"]["environmentVariables"]
        refs = list(plan.secrets)
        for var, source, target in (
            ("AZ_POOL_QUEUE_URL", "queue_sas", layout.queue),
            ("AZ_POOL_INPUT_URL", "container_read", layout.container),
            ("AZ_POOL_OUTPUT_URL", "container_write", layout.output_container),
        ):
            refs.append(
                SecretRef(
                    secure_value_path(0, len(env)),
                    blob_conn_id,
                    target,
                    "blob_conn_id",
                    f"the workers' {var}",
                    "plain",
                    source,
                    settings.sas_expiry_s,
                )
            )
            env.append({"name": var, "secureValue": None})
        plans[name] = GroupPlan(plan.body, tuple(refs))
    return plans


__all__ = [
    "WORKER",
    "PoolLayout",
    "PoolProgress",
    "WorkerSettings",
    "evaluate_pool",
    "index_of",
    "item_blob",
    "plan_workers",
]
