"""Defaults shared by deferrable operators and sensors: deferrable-by-default and absolute deadlines."""

from __future__ import annotations

import configparser
import os
import time
from datetime import timedelta

_ENV = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` when set explicitly (env or airflow.cfg); otherwise ``True``.

    Airflow's own default for the option is ``false``; this provider's waits are cheap only when
    deferred, so it defers unless a deployment opts out.
    """
    from airflow.configuration import conf

    if _ENV in os.environ or configparser.ConfigParser.has_option(conf, "operators", "default_deferrable"):
        return conf.getboolean("operators", "default_deferrable", fallback=True)
    return True


def to_seconds(value: timedelta | float | int | None) -> float | None:
    """A timeout given as timedelta or seconds, as seconds (``None`` stays ``None``)."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def deadline_after(timeout: timedelta | float | int | None, *, now: float | None = None) -> float | None:
    """Absolute epoch deadline ``timeout`` from ``now`` (what triggers carry across re-entries)."""
    seconds = to_seconds(timeout)
    return None if seconds is None else (time.time() if now is None else now) + seconds


def poll_delay(poll_interval: float, deadline: float | None, *, now: float | None = None) -> float:
    """Seconds until a trigger's next poll: ``poll_interval``, cut short by the ``deadline`` (epoch)."""
    if deadline is None:
        return poll_interval
    return min(poll_interval, max(0.0, deadline - (time.time() if now is None else now)))


def timed_out(err: BaseException | None) -> bool:
    """Whether ``err``, or what it was raised from, is Airflow giving up a wait at its timeout.

    A deferred task whose trigger timed out gets ``TaskDeferralTimeout`` (a sensor turns it into
    ``AirflowSensorTimeout``); with ``soft_fail`` a sensor raises a skip instead: from the timeout when
    deferred, with the message "Sensor has timed out..." when poking.
    """
    from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferralTimeout

    while err is not None:
        if isinstance(err, (AirflowSensorTimeout, TaskDeferralTimeout)):
            return True
        if str(err).startswith("Sensor has timed out"):
            return True
        err = err.__cause__
    return False


__all__ = ["deadline_after", "default_deferrable", "poll_delay", "timed_out", "to_seconds"]
