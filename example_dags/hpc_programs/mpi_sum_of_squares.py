"""An MPI program (mpi4py): the sum of squares of 1..N, each rank summing its share, reduced on rank 0.

Rank 0 writes ``out/result.json`` (the total, the world size and each rank's host) in its working
directory, which Batch uploads as the task's output. Run with ``mpiexec -n <ranks> python this.py N``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mpi4py import MPI


def main() -> None:
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    n = int(sys.argv[1])
    partial = sum(i * i for i in range(rank + 1, n + 1, size))
    total = comm.reduce(partial, op=MPI.SUM, root=0)
    hosts = comm.gather(MPI.Get_processor_name(), root=0)
    if rank == 0:
        out = Path(os.environ.get("AZ_BATCH_TASK_WORKING_DIR", ".")) / "out"
        out.mkdir(parents=True, exist_ok=True)
        result = {"n": n, "sum_of_squares": total, "world_size": size, "hosts": hosts}
        (out / "result.json").write_text(json.dumps(result, sort_keys=True))
        print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
