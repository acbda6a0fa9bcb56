"""One numbered step of a task workflow: reads the previous step's result, writes its own.

Usage: python3 workflow_step.py STEP [START]
Step 1 starts from START; step n>1 reads deps/**/result-*.json (the previous step's uploaded result).
Each step computes value * 3 + step and writes out/result-<step>.json (numbered, so a merge orders the
steps' results). Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
import sys


def main(step: int, start: int | None) -> None:
    if start is None:
        found = sorted(glob.glob("deps/**/result-*.json", recursive=True))
        if len(found) != 1:
            raise SystemExit(f"step {step}: expected one previous result, found {found}")
        with open(found[0], encoding="utf-8") as handle:
            value = json.load(handle)["value"]
    else:
        value = start
    result = {"step": step, "input": value, "value": value * 3 + step}
    os.makedirs("out", exist_ok=True)
    with open(f"out/result-{step}.json", "w", encoding="utf-8") as out:
        json.dump(result, out)
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
