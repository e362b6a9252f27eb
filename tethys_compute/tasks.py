"""Optional ``django.tasks`` integration: the monitor's work as a task.

With Django 6's ``django.tasks`` (or its backport, the ``django-tasks`` package) the
cycle that ``manage.py tethys_compute_monitor`` runs can be enqueued on the project's
task backend instead::

    from tethys_compute.tasks import enqueue_monitor_cycle
    enqueue_monitor_cycle()            # or enqueue_monitor_cycle(label="my_app")

Enqueue it periodically (a task backend's scheduler, cron); cycles may overlap safely,
each job is refreshed by one of them at a time. Without a tasks framework,
:data:`monitor_cycle` is ``None`` and :func:`enqueue_monitor_cycle` raises
``ImproperlyConfigured``. This module is imported only when used.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


def _task_decorator():
    try:
        from django.tasks import task  # Django 6.0+
    except ImportError:
        try:
            from django_tasks import task  # the backport package
        except ImportError:
            return None
    return task


def run_monitor_cycle(label: str | None = None) -> dict:
    """Run one monitor cycle (:func:`tethys_compute.monitor.run_cycle`) and return its
    numbers as a JSON-ready dict: ``checked``, ``changed``, ``errors``, ``claimed``,
    ``seconds``."""
    from .monitor import run_cycle

    return run_cycle(label).as_dict()


_task = _task_decorator()

#: The ``django.tasks`` task running :func:`run_monitor_cycle`, or ``None`` when no tasks
#: framework is installed.
monitor_cycle = _task()(run_monitor_cycle) if _task is not None else None


def enqueue_monitor_cycle(label: str | None = None):
    """Enqueue one monitor cycle on the default task backend.

    :param label: only the jobs of this app (package name).
    :returns: the backend's ``TaskResult``.
    :raises ImproperlyConfigured: if neither ``django.tasks`` nor ``django-tasks`` is
        installed.
    """
    if monitor_cycle is None:
        raise ImproperlyConfigured(
            "Enqueuing the tethys_compute monitor needs django.tasks (Django 6.0+) or the "
            "django-tasks package; otherwise run `manage.py tethys_compute_monitor`."
        )
    return monitor_cycle.enqueue(label=label)
