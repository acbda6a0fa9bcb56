"""Per-chunk statistics of ``key,value`` records: the program each Batch task runs.

Usage: python3 record_stats.py INPUT OUTPUT
Writes one JSON line per key: {"key": k, "count": n, "sum": s}. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict


def main(source: str, target: str) -> None:
    counts = defaultdict(int)
    sums = defaultdict(int)
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            key, value = line.split(",", 1)
            counts[key] += 1
            sums[key] += int(value)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as out:
        for key in sorted(counts):
            out.write(json.dumps({"key": key, "count": counts[key], "sum": sums[key]}) + "\n")
    print(f"{source}: {sum(counts.values())} records, {len(counts)} keys -> {target}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
