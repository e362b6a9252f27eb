"""Custom status text and ``extended_properties`` under real concurrent processes, on
SQLite and PostgreSQL: a custom status write keeps the keys another process saved, a
stale copy's plain save keeps the custom status, and saves of different keys by two
processes both survive."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tethys_compute.models import BasicJob, TethysJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

WORKER = r"""
import os, sys, time
import django
django.setup()
from tethys_compute.models import BasicJob, TethysJob
BasicJob.add_custom_terminal_status("Archived")
job_id, go_file, action, args = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
job = TethysJob.objects.get_subclass(pk=job_id)        # loaded before the others write
open(go_file + "." + str(os.getpid()), "w").close()      # ready
while not os.path.exists(go_file):
    time.sleep(0.005)
if args and args[-1].startswith("after="):                # let another process go first
    first = args.pop()[len("after="):]
    while not os.path.exists(first):
        time.sleep(0.005)
if action == "set-key":
    job.extended_properties[args[0]] = args[1]
    job.save()
elif action == "custom-status":
    job.status = args[0]
open(go_file + ".done." + str(os.getpid()), "w").close()
"""


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.testapp.live_settings")
    if connection.vendor == "sqlite":
        env["TETHYS_TEST_SQLITE_FILE"] = connection.settings_dict["NAME"]
    else:
        env["PGDATABASE"] = connection.settings_dict["NAME"]
    return env


def spawn(job, go, action, *args):
    return subprocess.Popen([sys.executable, "-c", WORKER, str(job.pk), str(go), action, *args],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def race(processes, go, tmp_path):
    """Start ``processes`` (all loaded the job before any writes), then let them write."""
    deadline = time.time() + 120
    while len([p for p in tmp_path.glob("go.*") if ".done." not in p.name]) < len(processes):
        assert time.time() < deadline, "workers did not start"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.01)
    go.touch()
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err


def done_marker(go, process):
    return f"after={go}.done.{process.pid}"


@pytest.fixture
def job(user, tmp_path):
    BasicJob.add_custom_terminal_status("Archived")
    job = BasicJob.objects.create(name="props", user=user, label="test_app",
                                  workspace=str(tmp_path), extended_properties={"kept": 1})
    job.execute()
    return job


def test_saves_of_different_keys_by_two_stale_copies_both_survive(job, tmp_path):
    go = tmp_path / "go"
    first = spawn(job, go, "set-key", "mesh", "ready")
    second = spawn(job, go, "set-key", "inputs", "checked", done_marker(go, first))
    race([first, second], go, tmp_path)
    props = TethysJob.objects.get(pk=job.pk).extended_properties
    assert props == {"kept": 1, "mesh": "ready", "inputs": "checked"}


def test_a_custom_status_write_keeps_the_keys_another_process_saved(job, tmp_path):
    go = tmp_path / "go"
    saver = spawn(job, go, "set-key", "mesh", "ready")
    status = spawn(job, go, "custom-status", "Checking inputs", done_marker(go, saver))
    race([saver, status], go, tmp_path)
    stored = TethysJob.objects.get_subclass(pk=job.pk)
    assert stored.extended_properties == {"kept": 1, "mesh": "ready"}
    assert stored.cached_status == "Checking inputs"


def test_a_stale_plain_save_keeps_a_custom_terminal_status(job, tmp_path):
    go = tmp_path / "go"
    status = spawn(job, go, "custom-status", "Archived")
    stale = spawn(job, go, "set-key", "note", "late", done_marker(go, status))
    race([status, stale], go, tmp_path)
    stored = TethysJob.objects.get_subclass(pk=job.pk)
    assert stored.extended_properties == {"kept": 1, "note": "late"}
    assert stored.cached_status == "Archived"
    assert stored.is_terminal
    assert TethysJob.objects.terminal().filter(pk=job.pk).exists()
    assert not TethysJob.objects.active().filter(pk=job.pk).exists()
    # Open to no report or refresh: a terminal status stays.
    stored.status = "Running"
    assert TethysJob.objects.get_subclass(pk=job.pk).cached_status == "Archived"


def test_concurrent_saves_of_many_keys_all_survive(job, tmp_path):
    """Six processes, each loaded before any writes, save a key of their own at once."""
    go = tmp_path / "go"
    workers = [spawn(job, go, "set-key", f"k{n}", str(n)) for n in range(6)]
    race(workers, go, tmp_path)
    props = TethysJob.objects.get(pk=job.pk).extended_properties
    assert props == {"kept": 1, **{f"k{n}": str(n) for n in range(6)}}
