"""The ``durable`` emulator service: the Durable Functions HTTP API running real function apps."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
from typing import Any, ClassVar

from aiohttp import web

from airflow_azure_compute.emulator.core import EmulatorService, ServiceContext
from airflow_azure_compute.emulator.durable.api import RPC_PATH, WEBHOOK_PATH, DurableApi
from airflow_azure_compute.emulator.durable.engine import Engine
from airflow_azure_compute.emulator.durable.http_functions import HttpFunctions
from airflow_azure_compute.emulator.durable.loader import load_function_apps

log = logging.getLogger(__name__)

DEFAULT_TASK_HUB = "EmulatorHub"
DEFAULT_CONNECTION = "Storage"


class DurableService(EmulatorService):
    """Loads every ``--function-app`` and serves the Durable HTTP API for its orchestrators."""

    name: ClassVar[str] = "durable"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        args = ctx.args
        apps = list(getattr(args, "function_apps", None) or getattr(args, "function_app", None) or [])
        self.functions = load_function_apps(apps)
        self.key: str = (
            getattr(args, "durable_key", None)
            or os.environ.get("DURABLE_EMULATOR_KEY")
            or secrets.token_urlsafe(24)
        )
        self.task_hub: str = getattr(args, "durable_task_hub", None) or DEFAULT_TASK_HUB
        self.engine = Engine(self.functions)
        self.api = DurableApi(self.engine, self.key, self.task_hub, DEFAULT_CONNECTION)
        self.http_functions = HttpFunctions(self.functions.http, self.key, self.api.client_binding)
        log.info(
            "durable: %d orchestrators, %d activities from %s",
            len(self.functions.orchestrators),
            len(self.functions.activities),
            apps,
        )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--durable-key", default=None, help="system key checked as `code` (default: random)"
        )
        parser.add_argument(
            "--durable-task-hub", default=None, help=f"task hub name (default {DEFAULT_TASK_HUB})"
        )

    def add_routes(self, app: web.Application) -> None:
        self.api.add_routes(app)
        self.http_functions.add_routes(app)
        self.api.add_case_fallback(app)

    async def stop(self) -> None:
        await self.engine.close()
        if self.functions.http:  # starters may have opened the package's global client session
            from azure.durable_functions.models.utils import http_utils

            await http_utils._close_session()

    def reset(self) -> None:
        self.engine.reset()

    def endpoint_info(self, url: str, ca_path: str | None) -> dict[str, Any]:
        return {
            "url": url,
            "key": self.key,
            "task_hub": self.task_hub,
            "connection": DEFAULT_CONNECTION,
            "webhook_url": f"{url}{WEBHOOK_PATH}",
            "rpc_base_url": f"{url}{RPC_PATH}/",
            "api_url": f"{url}/api",
            "orchestrators": sorted(o.name for o in self.functions.orchestrators.values()),
            "activities": sorted(a.name for a in self.functions.activities.values()),
        }
