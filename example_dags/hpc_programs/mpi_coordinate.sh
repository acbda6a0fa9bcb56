#!/bin/sh
# The coordination command of the MPI task: every node checks that the MPI runtime and the program
# are in place before the primary starts the ranks, and records what it saw (in its task directory).
set -eu
test -f "$AZ_BATCH_TASK_SHARED_DIR/$1"
python3 -c "import mpi4py"
echo "node $AZ_BATCH_NODE_ID master=$AZ_BATCH_IS_CURRENT_NODE_MASTER hosts=$AZ_BATCH_HOST_LIST" \
  > "$AZ_BATCH_TASK_SHARED_DIR/coordination.txt"
