"""The commands run as a person runs them: `python manage.py ...` in a subprocess, with the
tests' settings; exit codes and output streams checked."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tethys_compute.models import TethysJob

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def manage(tmp_path, _workspaces):
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "DJANGO_SETTINGS_MODULE": "tests.management.subprocess_settings",
           "TETHYS_TEST_WORKSPACES": str(_workspaces)}
    if connection.vendor == "sqlite":
        env["TC_SUBPROCESS_DB"] = str(tmp_path / "manage.sqlite3")
    else:  # the session's test database; transaction=True makes our rows visible to it
        env["TC_SUBPROCESS_DB"] = connection.settings_dict["NAME"]

    def manage(*args, stdin="", **extra_env):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT,
                              env={**env, **extra_env}, input=stdin, capture_output=True,
                              text=True, timeout=120)

    if connection.vendor == "sqlite":
        migrated = manage("migrate", "--no-input", "-v", "0")
        assert migrated.returncode == 0, migrated.stderr
    return manage


def test_scheduler_commands_exit_codes_and_output(manage):
    created = manage("tethys_compute_schedulers", "create-condor", "-n", "pool", "-e",
                     "submit.example.org", "-u", "condor", "--password-stdin",
                     stdin="s3cret-Pa55\n")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith('Created HTCondor scheduler "pool" (id ')
    listed = manage("tethys_compute_schedulers", "list", "--format", "json")
    assert listed.returncode == 0
    assert json.loads(listed.stdout)[0]["password"] == "******"
    assert "s3cret-Pa55" not in listed.stdout + listed.stderr

    duplicate = manage("tethys_compute_schedulers", "create-dask", "-n", "pool", "-e", "tcp://h:1")
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == ('CommandError: A scheduler named "pool" already exists; '
                                        "choose another name or remove it first.")
    usage = manage("tethys_compute_schedulers", "create-dask", "-n", "x")
    assert usage.returncode == 2
    assert "the following arguments are required: -e/--endpoint/--host" in usage.stderr
    no_answer = manage("tethys_compute_schedulers", "remove", "pool")
    assert no_answer.returncode == 1 and "Aborted; nothing was deleted" in no_answer.stderr
    removed = manage("tethys_compute_schedulers", "remove", "pool", "--force")
    assert removed.returncode == 0 and 'Deleted HTCondor Scheduler "pool".' in removed.stdout


def test_job_commands_exit_codes_and_output(manage, user):
    if connection.vendor != "sqlite":
        TethysJob.objects.create(name="visible", user=user, label="test_app")
    listed = manage("tethys_compute_jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[:3] == ["ID", "NAME", "TYPE"]
    if connection.vendor != "sqlite":
        assert "visible" in listed.stdout
    missing = manage("tethys_compute_jobs", "show", "424242")
    assert (missing.returncode, missing.stderr.strip()) == (1, "CommandError: No job with id "
                                                               "424242.")
    bad = manage("tethys_compute_jobs", "prune", "--older-than", "soon")
    assert bad.returncode == 2 and "invalid float value: 'soon'" in bad.stderr
    dry = manage("tethys_compute_jobs", "prune", "--older-than", "0")
    assert dry.returncode == 0 and "Dry run:" in dry.stdout


def test_commands_work_without_the_django_admin(manage):
    for args in (("tethys_compute_jobs", "list"), ("tethys_compute_schedulers", "list"),
                 ("tethys_compute_schedulers", "settings")):
        done = manage(*args, TC_SUBPROCESS_NO_ADMIN="1")
        assert done.returncode == 0, done.stderr
        assert "ID" in done.stdout or "APP" in done.stdout
