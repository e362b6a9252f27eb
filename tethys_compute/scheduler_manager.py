"""Scheduler API (Tethys's ``tethys_sdk.compute``): list, get and create schedulers.

Unlike Tethys 4.6, the constructors pass fields by keyword (name and host land in
``name`` and ``host``) and their defaults save (see "Differences from Tethys" in the docs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .models import CondorScheduler, DaskScheduler, Scheduler

if TYPE_CHECKING:
    from django.db.models import QuerySet


def list_schedulers() -> QuerySet[Scheduler]:
    """Return every scheduler, each as its own class (``CondorScheduler``/``DaskScheduler``)."""
    return Scheduler.objects.all().select_subclasses()


def get_scheduler(name: str) -> Scheduler | None:
    """Return the first scheduler named ``name`` as its own class, or ``None``."""
    return Scheduler.objects.filter(name=name).order_by("pk").select_subclasses().first()


def create_scheduler(name: str, host: str, scheduler_type: str = "condor",
                     **kwargs: Any) -> CondorScheduler | DaskScheduler:
    """Return a new unsaved scheduler of ``scheduler_type`` (``"condor"`` or ``"dask"``).

    :raises ValueError: on an unknown ``scheduler_type`` or arguments that type does not
        take.
    """
    kind = str(scheduler_type).lower()
    factories: dict[str, Callable[..., CondorScheduler | DaskScheduler]] = {
        "condor": create_condor_scheduler, "dask": create_dask_scheduler}
    if kind not in factories:
        raise ValueError(
            f'"{scheduler_type}" is not a valid scheduler_type. Must be either "dask" or "condor".'
        )
    try:
        return factories[kind](name, host, **kwargs)
    except TypeError:
        raise ValueError(
            f"Invalid argument(s) for {kind} scheduler: {', '.join(sorted(kwargs))}."
        ) from None


def create_condor_scheduler(
    name: str, host: str, username: str | None = None, password: str | None = None,
    private_key_path: str | None = None, private_key_pass: str | None = None, port: int = 22,
) -> CondorScheduler:
    """Return a new unsaved :class:`CondorScheduler` (``port`` is the SSH port)."""
    return CondorScheduler(
        name=name,
        host=host,
        port=port,
        username=username,
        password=password,
        private_key_path=private_key_path,
        private_key_pass=private_key_pass,
    )


def create_dask_scheduler(name: str, host: str, timeout: float | None = None,
                          heartbeat_interval: float | None = None,
                          dashboard: str | None = None) -> DaskScheduler:
    """Return a new unsaved :class:`DaskScheduler`; ``timeout`` and
    ``heartbeat_interval`` are seconds (``None`` or 0: distributed's default)."""
    return DaskScheduler(
        name=name,
        host=host,
        timeout=timeout or 0,
        heartbeat_interval=heartbeat_interval or 0,
        dashboard=dashboard,
    )
