"""Code that runs ON compute nodes: standard library + cloudpickle only, never Airflow or the Azure SDKs.

Each module here is shipped to the nodes as a resource file and run there by path, so it imports
nothing of this package either. An import-linter contract keeps it that way.

* `runner`: calls a pickled Python function on one call or a chunk
  of items and writes the outcomes (values, or exceptions with their remote traceback) to a file that
  the Batch task uploads.
"""

from __future__ import annotations
