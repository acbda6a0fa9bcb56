"""Code that runs on compute nodes and in worker containers: the standard library, cloudpickle and the
Storage SDKs only, never Airflow or the provider's Airflow side.

Each module here is shipped to the nodes (or installed in the worker image) and run there by path or
module name. An import-linter contract keeps the provider out; a test keeps each module's imports.

* `runner`: calls a pickled Python function on one call or a chunk of items and writes the outcomes
  (values, or exceptions with their remote traceback) to a file that the Batch task uploads
  (standard library + cloudpickle only).
* `queue_worker`: the worker loop of the Container Instances worker pool.
"""

from __future__ import annotations
