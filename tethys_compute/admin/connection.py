"""Connection tests of schedulers, shared by the admin action and
``manage.py tethys_compute_schedulers test``.

The engines implement ``test_connection()`` on their scheduler class
(``CondorScheduler``: SSH login and ``condor_q``; ``DaskScheduler``: a client connection
listing the workers); it returns a short message or raises. This module only calls it and
turns the outcome into text that never carries the scheduler's secrets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..exceptions import TethysComputeError
from .secrets import redact

logger = logging.getLogger("tethys_compute.admin")


@dataclass(frozen=True)
class ConnectionResult:
    """Outcome of one connection test.

    :ivar ok: True when the scheduler answered.
    :ivar message: what the engine said (secrets masked).
    :ivar supported: False when the scheduler's class has no connection test (its
        engine's Python package is missing, or a custom scheduler class).
    """

    ok: bool
    message: str
    supported: bool = True


def check_connection(scheduler) -> ConnectionResult:
    """Run ``scheduler.test_connection()`` and describe the outcome.

    :param scheduler: a ``CondorScheduler`` or ``DaskScheduler`` (its own class, not a
        base ``Scheduler`` row).
    :returns: a :class:`ConnectionResult`; never raises for a failing engine.
    """
    method = getattr(scheduler, "test_connection", None)
    kind = type(scheduler)._meta.verbose_name
    if not callable(method):
        return ConnectionResult(
            False, f"Connection tests are not available for {kind}s.", supported=False
        )
    try:
        message = method()
    except NotImplementedError as exc:
        return ConnectionResult(
            False, redact(exc, scheduler) or f"Connection tests are not available for {kind}s.",
            supported=False,
        )
    except Exception as exc:  # noqa: BLE001 - any failure is the answer to show
        logger.info("Connection test of scheduler %s failed", scheduler.pk, exc_info=True)
        text = str(exc)
        if not isinstance(exc, TethysComputeError) or not text:
            text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        return ConnectionResult(False, redact(text, scheduler))
    return ConnectionResult(True, redact(message or "Connected.", scheduler))
