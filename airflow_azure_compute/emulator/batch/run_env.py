"""The environment a task process sees: a minimal base, ``AZ_BATCH_*``, then the task's own settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_azure_compute.emulator.batch.runner import TaskRunSpec

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def base_environment() -> dict[str, str]:
    """``PATH`` (this interpreter's directory first, so ``python`` is the emulator's), ``HOME``, ``LANG``."""
    interpreter_dir = os.path.dirname(sys.executable)
    path = [interpreter_dir, *(os.environ.get("PATH") or _DEFAULT_PATH).split(os.pathsep)]
    unique = list(dict.fromkeys(p for p in path if p))
    return {
        "PATH": os.pathsep.join(unique),
        "HOME": os.environ.get("HOME") or str(Path.home()),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }


def batch_variables(spec: TaskRunSpec, task_dir: Path) -> dict[str, str]:
    """The ``AZ_BATCH_*`` variables Batch sets for every task (job and task ids except for start tasks)."""
    root = spec.node_root
    variables = {
        "AZ_BATCH_ACCOUNT_NAME": spec.account_name,
        "AZ_BATCH_ACCOUNT_URL": spec.account_url,
        "AZ_BATCH_POOL_ID": spec.pool_id,
        "AZ_BATCH_NODE_ID": spec.node_id,
        "AZ_BATCH_NODE_IS_DEDICATED": "true" if spec.is_dedicated else "false",
        "AZ_BATCH_NODE_ROOT_DIR": str(root),
        "AZ_BATCH_NODE_SHARED_DIR": str(root / "shared"),
        "AZ_BATCH_NODE_STARTUP_DIR": str(root / "startup"),
        "AZ_BATCH_NODE_MOUNTS_DIR": str(root / "fsmounts"),
        "AZ_BATCH_TASK_DIR": str(task_dir),
        "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
    }
    if spec.kind != "start":
        variables["AZ_BATCH_JOB_ID"] = spec.job_id or ""
        variables["AZ_BATCH_TASK_ID"] = spec.task_id
    return variables


def task_environment(spec: TaskRunSpec, task_dir: Path, *, with_base: bool = True) -> dict[str, str]:
    """Base (unless ``with_base`` is false, e.g. inside a container) + ``AZ_BATCH_*`` + extra + task."""
    env = base_environment() if with_base else {}
    env.update(batch_variables(spec, task_dir))
    env.update(spec.extra_env)
    env.update(spec.environment)
    return env
