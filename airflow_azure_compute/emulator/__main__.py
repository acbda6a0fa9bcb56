"""``python -m airflow_azure_compute.emulator`` and the ``airflow-azure-compute-emulator`` script."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, serve every registered service until SIGTERM/SIGINT."""
    from airflow_azure_compute.emulator.core import build_parser, serve
    from airflow_azure_compute.emulator.faults import Faults
    from airflow_azure_compute.emulator.registry import SERVICES

    parser = build_parser(SERVICES)
    args = parser.parse_args(argv)
    try:
        Faults(latency_ms=args.latency_ms, error_rate=args.error_rate, reset_rate=args.reset_rate)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(SERVICES, args))


if __name__ == "__main__":
    main()
