"""The optional django.tasks integration (tethys_compute/tasks.py), on the immediate
backend of Django 6's django.tasks, or of the django-tasks backport on older Django."""

import os
import subprocess
import sys

import pytest

from tests.testapp.fixtures import make_jobs, row
from tests.testapp.live import ROOT


@pytest.mark.django_db
def test_enqueued_monitor_cycle_refreshes_jobs(user, fake_engine, settings):
    try:
        import django.tasks  # noqa: F401

        package = "django.tasks"
    except ImportError:
        package = "django_tasks"
    settings.TASKS = {"default": {"BACKEND": f"{package}.backends.immediate.ImmediateBackend"}}
    from tethys_compute.tasks import enqueue_monitor_cycle, monitor_cycle

    assert monitor_cycle is not None
    jobs = make_jobs(fake_engine, user, 3, state="running", label="test_app")
    other = make_jobs(fake_engine, user, 1, state="running", label="other_app")
    result = enqueue_monitor_cycle(label="test_app")
    assert result.status.name == "SUCCESSFUL"
    numbers = result.return_value
    assert (numbers["checked"], numbers["changed"], numbers["errors"]) == (3, 3, 0)
    assert [row(job)._status for job in jobs] == ["RUN"] * 3
    assert row(other[0])._status == "SUB"


def test_without_a_tasks_framework_enqueuing_says_what_is_missing():
    script = (
        "import sys; sys.modules['django_tasks'] = None; sys.modules['django.tasks'] = None\n"
        "import django; django.setup()\n"
        "from tethys_compute import tasks\n"
        "assert tasks.monitor_cycle is None\n"
        "try:\n"
        "    tasks.enqueue_monitor_cycle()\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.settings")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ImproperlyConfigured Enqueuing the tethys_compute monitor")
