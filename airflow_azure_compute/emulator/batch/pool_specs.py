"""Validation of a pool specification (``POST /pools`` and a job's ``autoPoolSpecification.pool``)."""

from __future__ import annotations

import re
from typing import Any

from airflow_azure_compute.emulator.batch import pool_settings
from airflow_azure_compute.emulator.batch.wire import BatchError, parse_duration

_INVALID = "The value provided for one of the properties in the request body is invalid."
_SEGMENT = r"[^/]+"
#: Azure Compute Gallery image (latest or one version) or managed image, as Batch accepts them.
_IMAGE_ID = re.compile(
    rf"^/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\.Compute/"
    rf"(?:galleries/{_SEGMENT}/images/{_SEGMENT}(?:/versions/{_SEGMENT})?|images/{_SEGMENT})$",
    re.IGNORECASE,
)


def invalid(name: str, reason: str) -> BatchError:
    """Batch's answer to a bad property: 400 ``InvalidPropertyValue`` naming it and why."""
    return BatchError(400, "InvalidPropertyValue", _INVALID, {"PropertyName": name, "Reason": reason})


def validate_image_reference(image: Any, prefix: str) -> None:
    if not isinstance(image, dict):
        return
    image_id = image.get("virtualMachineImageId")
    if image_id is None:
        return
    if not isinstance(image_id, str) or not _IMAGE_ID.match(image_id):
        raise invalid(
            f"{prefix}virtualMachineImageId",
            "The virtualMachineImageId must be the ARM id of an Azure Compute Gallery image "
            "(/subscriptions/.../providers/Microsoft.Compute/galleries/{gallery}/images/{image}"
            "[/versions/{version}]) or of a managed image (.../Microsoft.Compute/images/{image}).",
        )
    for other in ("publisher", "offer", "sku", "version"):
        if image.get(other):
            raise invalid(
                f"{prefix}{other}", f"Specified property {other} can only have a value when publisher is set."
            )


def validate_pool_spec(spec: dict[str, Any], prefix: str = "") -> None:
    """Raise `BatchError` 400 naming the first invalid property of a pool specification."""
    if not spec.get("vmSize"):
        raise BatchError(
            400, "MissingRequiredProperty", "vmSize is required.", {"PropertyName": f"{prefix}vmSize"}
        )
    if spec.get("enableAutoScale") and (
        spec.get("targetDedicatedNodes") or spec.get("targetLowPriorityNodes")
    ):
        raise BatchError(
            400,
            "InvalidPropertyValue",
            "targetDedicatedNodes and targetLowPriorityNodes must not be set when enableAutoScale is true.",
        )
    for name in ("resizeTimeout", "autoScaleEvaluationInterval"):
        value = spec.get(name)
        if value is None:
            continue
        try:
            parse_duration(str(value))
        except ValueError as exc:
            raise BatchError(
                400, "InvalidPropertyValue", str(exc), {"PropertyName": f"{prefix}{name}"}
            ) from exc
    vm = spec.get("virtualMachineConfiguration")
    if isinstance(vm, dict):
        validate_image_reference(
            vm.get("imageReference"), f"{prefix}virtualMachineConfiguration.imageReference."
        )
    pool_settings.validate(spec, prefix)
