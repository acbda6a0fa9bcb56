"""Import rule: importing every hook, operator, sensor, trigger and decorator module loads no ``azure.*`` module.

DAG files are parsed often, and every parse pays for the imports of the operators it uses: SDK imports
belong inside methods. Run in a fresh interpreter; exits non-zero, naming the culprits, on a breach.
Also prints the import time of all operator modules against bare Airflow (see docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hooks", "operators", "sensors", "triggers", "decorators")

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

#: What a DAG file imports: operators and sensors (hooks and triggers load when a task runs).
DAG_FACING = ("operators", "sensors")


def measure(
    extra_modules: tuple[str, ...] = (),
    pythonpath: str | None = None,
    packages: tuple[str, ...] = PACKAGES,
    pycache: str | None = None,
) -> dict[str, object]:
    """Import the provider's modules (and ``extra_modules``) in a fresh interpreter; report what loaded.

    With ``pycache``, bytecode is written to and read from that directory, as an installed package
    has it (pip compiles on install); otherwise the environment decides.
    """
    code = PROBE.format(packages=packages, extra=list(extra_modules))
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if pycache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def best_ms(packages: tuple[str, ...], runs: int = 3) -> float:
    """Least added import time in ms over ``runs`` runs, bytecode warm (after one run to compile)."""
    with tempfile.TemporaryDirectory(prefix="pycache-") as pycache:
        measure(packages=packages, pycache=pycache)
        return (
            min(
                float(measure(packages=packages, pycache=pycache)["provider_s"])  # type: ignore[arg-type]
                for _ in range(runs)
            )
            * 1000
        )


def main() -> int:
    result = measure()
    azure = result["azure"]
    modules = result["modules"]
    assert isinstance(azure, list) and isinstance(modules, list)
    print(
        f"import rules: {len(modules)} provider modules load no azure.* module; added import time on top "
        f"of Airflow ({float(result['airflow_s']) * 1000:.0f} ms), best of 3 with bytecode: "  # type: ignore[arg-type]
        f"all modules {best_ms(PACKAGES):.1f} ms, operators + sensors {best_ms(DAG_FACING):.1f} ms"
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
