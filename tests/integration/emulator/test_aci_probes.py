"""Liveness and readiness probes on the ACI emulator, through azure-mgmt-containerinstance: a failing
liveness probe gets the container killed and restarted, a passing one leaves it alone, a failing
readiness probe is reported without a restart; ``exec`` and ``httpGet`` probes both run."""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.containerinstance import models as m

from tests.integration.emulator.batch_support import wait_for

pytestmark = pytest.mark.integration

WAIT = "import time\nwhile True: time.sleep(0.1)"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.fixture
def group(aci_sdk: Any, aci: dict[str, Any]) -> Iterator[Any]:
    """Create a group from ``(container, restart policy)``; deleted after the test."""
    made: list[str] = []

    def create(container: Any, policy: str = "OnFailure") -> str:
        name = f"probe-{uuid.uuid4().hex[:8]}"
        body = m.ContainerGroup(
            location="westeurope",
            containers=[container],
            volumes=[m.Volume(name="work", empty_dir={})],
            os_type="Linux",
            restart_policy=policy,
        )
        aci_sdk.container_groups.begin_create_or_update(aci["resource_group"], name, body).result()
        made.append(name)
        return name

    yield create
    for name in made:
        aci_sdk.container_groups.begin_delete(aci["resource_group"], name).result()


def _container(command: list[str], **probes: Any) -> Any:
    return m.Container(
        name="main",
        image="busybox",
        command=command,
        resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=1.0, memory_in_gb=1.0)),
        volume_mounts=[m.VolumeMount(name="work", mount_path="/mnt/work")],
        **probes,
    )


def _exec_probe(code: str, **timing: int) -> Any:
    return m.ContainerProbe(exec_property=m.ContainerExec(command=_python(code)), period_seconds=1, **timing)


def _view(aci_sdk: Any, aci: dict[str, Any], name: str) -> Any:
    return aci_sdk.container_groups.get(aci["resource_group"], name).containers[0].instance_view


def test_a_failing_liveness_probe_restarts_the_container(
    aci_sdk: Any, aci: dict[str, Any], group: Any
) -> None:
    probe = _exec_probe("raise SystemExit(1)", failure_threshold=2)
    name = group(_container(_python(WAIT), liveness_probe=probe))

    view = wait_for(
        lambda: (v := _view(aci_sdk, aci, name)) is not None and v.previous_state is not None and v,
        timeout=30,
        what="a restart after the liveness probe failed",
    )
    assert view.restart_count >= 1 and view.previous_state.exit_code == 143  # SIGTERM, as after a stop
    events = {e.name: e for e in view.events}
    assert events["Unhealthy"].type == "Warning" and "Liveness probe failed" in events["Unhealthy"].message
    assert events["Unhealthy"].count >= 2 and "Killing" in events


def test_a_passing_liveness_probe_leaves_the_container_running(
    aci_sdk: Any, aci: dict[str, Any], group: Any
) -> None:
    probe = _exec_probe("open('/mnt/work/probed', 'a').write('.')")
    watcher = (  # the container reports once the probe ran three times
        "import os, time\np = '/mnt/work/probed'\n"
        "while not (os.path.exists(p) and len(open(p).read()) >= 3): time.sleep(0.05)\n"
        "print('probed three times', flush=True)\n" + WAIT
    )
    name = group(_container(_python(watcher), liveness_probe=probe))

    def probed() -> bool:
        logs = aci_sdk.containers.list_logs(aci["resource_group"], name, "main").content or ""
        return "probed three times" in logs

    wait_for(probed, timeout=30, what="three liveness probes")
    view = _view(aci_sdk, aci, name)
    assert view.restart_count == 0 and view.current_state.state == "Running"
    assert "Unhealthy" not in {e.name for e in view.events}


def test_a_failing_readiness_probe_is_reported_without_a_restart(
    aci_sdk: Any, aci: dict[str, Any], group: Any
) -> None:
    probe = _exec_probe("raise SystemExit(1)", failure_threshold=1)
    name = group(_container(_python(WAIT), readiness_probe=probe))

    def reported() -> Any:
        view = _view(aci_sdk, aci, name)
        events = {e.name: e for e in (view.events if view else [])}
        unhealthy = events.get("Unhealthy")
        return view if unhealthy is not None and unhealthy.count >= 3 else None

    view = wait_for(reported, timeout=30, what="three failed readiness probes")
    assert view.restart_count == 0 and view.current_state.state == "Running"
    assert "Readiness probe failed" in {e.name: e for e in view.events}["Unhealthy"].message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_http_get_liveness_probe_reaches_the_container(
    aci_sdk: Any, aci: dict[str, Any], group: Any
) -> None:
    port = _free_port()
    server = (
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        print('probed', self.path, self.headers.get('X-Probe'), flush=True)\n"
        "        self.send_response(200 if self.path == '/healthz' else 500); self.end_headers()\n"
        "    def log_message(self, *a): pass\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()"
    )
    probe = m.ContainerProbe(
        http_get=m.ContainerHttpGet(
            path="/healthz", port=port, http_headers=[m.HttpHeader(name="X-Probe", value="emulator")]
        ),
        initial_delay_seconds=1,
        period_seconds=1,
    )
    name = group(_container(_python(server), ports=[m.ContainerPort(port=port)], liveness_probe=probe))

    def probed_twice() -> bool:
        logs = aci_sdk.containers.list_logs(aci["resource_group"], name, "main").content or ""
        return logs.count("probed /healthz emulator") >= 2

    wait_for(probed_twice, timeout=30, what="two HTTP liveness probes")
    view = _view(aci_sdk, aci, name)
    assert view.restart_count == 0 and "Unhealthy" not in {e.name for e in view.events}
