"""Run one pickled call: load the function and one input, call it, write the pickled result.

Usage: python3 pymap_runner.py FUNCTION_PICKLE INPUT_PICKLE OUTPUT
The function was pickled with cloudpickle (shipped beside this file as a resource directory), so the
node's Python must have the same minor version as the Airflow worker. Standard library + cloudpickle.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback


def main(function_path: str, input_path: str, output_path: str) -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shipped cloudpickle package
    with open(function_path, "rb") as handle:
        function = pickle.load(handle)
    with open(input_path, "rb") as handle:
        argument = pickle.load(handle)
    os.makedirs(os.path.dirname(output_path) or ".", exist_ok=True)
    try:
        outcome = {"ok": True, "value": function(argument)}
        code = 0
    except Exception as err:  # the error travels back like a result
        outcome = {"ok": False, "error": repr(err), "traceback": traceback.format_exc()}
        code = 1
    with open(output_path, "wb") as out:
        pickle.dump(outcome, out)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
