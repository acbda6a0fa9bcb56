#!/bin/sh
# The application command of the MPI task: one rank per node of the multi-instance task.
# Usage: mpi_launch.sh <program.py> [args...]   (run by the primary, from its working directory)
#
# On Azure the nodes are separate hosts: MPICH's Hydra launcher starts one rank on each host of
# AZ_BATCH_HOST_LIST. When every host of the list is this machine's loopback address (the local Batch
# emulator runs all nodes of the task on one machine), MPICH's single-host process manager (gforker)
# starts the ranks instead, and UCX is kept to shared memory and loopback, so nothing listens beyond
# 127.0.0.1.
set -eu
program="$AZ_BATCH_TASK_SHARED_DIR/$1"
shift
ranks=$(echo "$AZ_BATCH_HOST_LIST" | tr ',' '\n' | grep -c .)
remote=$(echo "$AZ_BATCH_HOST_LIST" | tr ',' '\n' | grep -vc '^127\.' || true)
if [ "$remote" = "0" ]; then
  export UCX_NET_DEVICES=lo UCX_TLS=self,sm
  exec mpiexec.gforker -n "$ranks" python3 "$program" "$@"
fi
exec mpiexec -hosts "$AZ_BATCH_HOST_LIST" -n "$ranks" -ppn 1 python3 "$program" "$@"
