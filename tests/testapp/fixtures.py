"""Fixtures and helpers for the callback and monitor tests (import the fixtures into a
test module: ``from tests.testapp.fixtures import fake_engine  # noqa: F401``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tethys_compute.models import TethysJob

from .engine import FakeEngine
from .live import LiveProject, migrate_template
from .models import FakeEngineJob

STATUS_OF_STATE = {"queued": "SUB", "running": "RUN", "done": "COM", "failed": "ERR"}


@pytest.fixture
def fake_engine(tmp_path, settings):
    """A fresh fake scheduler directory, configured for this test."""
    root = tmp_path / "engine"
    settings.TESTAPP_ENGINE_DIR = str(root)
    return FakeEngine(root)


@pytest.fixture(scope="session")
def live_template(tmp_path_factory):
    """A migrated SQLite database file, made once per session (copied by live_project)."""
    path = tmp_path_factory.mktemp("live") / "template.sqlite3"
    migrate_template(path)
    return path


@pytest.fixture
def live_project(live_template, tmp_path):
    """Make a :class:`~tests.testapp.live.LiveProject` (a database file, an engine
    directory and an environment for app processes); every process it started is
    stopped after the test. Call it with ``TETHYS_COMPUTE`` overrides."""
    projects = []

    def make(**tethys_compute):
        project = LiveProject(live_template, tmp_path, tethys_compute)
        projects.append(project)
        return project

    yield make
    for project in projects:
        project.stop_all()


def make_jobs(engine, user, count, *, schedulers=("alpha",), status="SUB", state="queued",
              age=60, label="test_app", **fields):
    """Create ``count`` submitted FakeEngineJobs spread round-robin over ``schedulers``,
    known to ``engine`` in ``state``, whose status was last checked ``age`` seconds ago."""
    jobs = []
    checked = timezone.now() - timedelta(seconds=age)
    for index in range(count):
        scheduler = schedulers[index % len(schedulers)]
        job = FakeEngineJob(
            name=f"job {index}", user=user, label=label, scheduler_name=scheduler,
            _status=status, execute_time=checked, _last_status_update=checked, **fields,
        )
        job.save()
        job.key = f"job-{job.pk}"
        job.save()
        jobs.append(job)
    for scheduler in schedulers:
        keys = [job.key for job in jobs if job.scheduler_name == scheduler]
        if keys and state is not None:
            engine.submit_many(scheduler, keys, state)
    return jobs


def age(job_or_jobs, seconds=60):
    """Make the jobs' cached status ``seconds`` old (in the database and in memory)."""
    jobs = job_or_jobs if isinstance(job_or_jobs, list) else [job_or_jobs]
    when = timezone.now() - timedelta(seconds=seconds)
    TethysJob.objects.filter(pk__in=[job.pk for job in jobs]).update(_last_status_update=when)
    for job in jobs:
        job.refresh_from_db()
    return job_or_jobs


def row(job):
    """The job's row as stored now, as its own class."""
    return TethysJob.objects.get_subclass(pk=job.pk)
