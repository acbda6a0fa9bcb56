"""Import rule: importing every hook, operator, sensor and trigger module loads no ``azure.*`` module.

DAG files are parsed often, and every parse pays for the imports of the operators it uses: SDK imports
belong inside methods. Run in a fresh interpreter; exits non-zero, naming the culprits, on a breach.
Also prints the import time of all operator modules against bare Airflow (see docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hooks", "operators", "sensors", "triggers")

PROBE = r"""
import importlib, json, pkgutil, sys, time
t0 = time.perf_counter()
import airflow.sdk  # bare Airflow, as a DAG file has it
t1 = time.perf_counter()
import airflow_azure_compute
names = list({extra!r})
for pkg in {packages!r}:
    mod = importlib.import_module(f"airflow_azure_compute.{{pkg}}")
    for info in pkgutil.iter_modules(mod.__path__):
        names.append(f"airflow_azure_compute.{{pkg}}.{{info.name}}")
t2 = time.perf_counter()
for name in names:
    importlib.import_module(name)
t3 = time.perf_counter()
azure = sorted(m for m in sys.modules if m == "azure" or m.startswith("azure."))
print(json.dumps({{"modules": names, "azure": azure, "airflow_s": t1 - t0, "provider_s": t3 - t2}}))
"""


def measure(extra_modules: tuple[str, ...] = (), pythonpath: str | None = None) -> dict[str, object]:
    """Import every provider module (and ``extra_modules``) in a fresh interpreter; report what loaded."""
    code = PROBE.format(packages=PACKAGES, extra=list(extra_modules))
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    result = measure()
    azure = result["azure"]
    modules = result["modules"]
    assert isinstance(azure, list) and isinstance(modules, list)
    print(
        f"import rules: {len(modules)} provider modules imported in "
        f"{float(result['provider_s']) * 1000:.1f} ms on top of Airflow "  # type: ignore[arg-type]
        f"({float(result['airflow_s']) * 1000:.0f} ms)"  # type: ignore[arg-type]
    )
    if azure:
        print(
            "FAIL: importing hooks/operators/sensors/triggers loaded Azure SDK modules:",
            ", ".join(azure[:10]),
        )
        print("Move SDK imports inside methods or under TYPE_CHECKING.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
