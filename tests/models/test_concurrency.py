"""Concurrency of the status rules across real processes on PostgreSQL."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import requires_postgres
from tethys_compute.models import BasicJob, TethysJob

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]

WORKER = r"""
import os, sys, time
import django
django.setup()
from tethys_compute.models import TethysJob
job_id, action, go_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
job = TethysJob.objects.get_subclass(pk=job_id)        # loaded before the race
open(go_file + "." + str(os.getpid()), "w").close()      # ready
while not os.path.exists(go_file):
    time.sleep(0.005)
if action == "complete":
    job.status = "Complete"
elif action == "process":
    job.process_results()
elif action == "stale-save":
    time.sleep(float(sys.argv[4]))
    job.description = "edited by a stale copy"
    job.save()
print(TethysJob.objects.get(pk=job_id)._status)
"""


def spawn(job, action, go, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.settings",
               PGDATABASE=connection.settings_dict["NAME"])
    return subprocess.Popen([sys.executable, "-c", WORKER, str(job.pk), action, str(go), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def race(processes, go, tmp_path):
    deadline = time.time() + 60
    while len(list(tmp_path.glob("go.*"))) < len(processes):
        assert time.time() < deadline, "workers did not start"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=60) for p in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    return outputs


@pytest.mark.parametrize("round_", range(3))
def test_two_processes_completing_one_job_process_results_once(user, tmp_path, round_):
    job = BasicJob.objects.create(name="race", user=user, label="test_app", workspace=str(tmp_path),
                                  extended_properties={"processing_seconds": 0.3})
    job.process_results_function = "tests.testapp.results.record_processing"
    job.save()
    job.execute()
    go = tmp_path / "go"
    race([spawn(job, "complete", go), spawn(job, "complete", go)], go, tmp_path)
    runs = (tmp_path / "processed.log").read_text().splitlines()
    assert len(runs) == 1, runs
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM" and row.completion_time is not None
    assert list(row.status_history.values_list("new_status", flat=True)) == ["SUB", "COM"]


def test_two_processes_processing_the_same_results_run_it_once(user, tmp_path):
    job = BasicJob.objects.create(name="race", user=user, label="test_app", workspace=str(tmp_path),
                                  extended_properties={"processing_seconds": 0.3})
    job.process_results_function = "tests.testapp.results.record_processing"
    job.save()
    job.execute()
    TethysJob.objects.filter(pk=job.pk).update(_status="RES")  # reached Results-Ready
    go = tmp_path / "go"
    race([spawn(job, "process", go) for _ in range(3)], go, tmp_path)
    assert len((tmp_path / "processed.log").read_text().splitlines()) == 1
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM" and row._results_state == "done"


def test_stale_save_after_completion_does_not_undo_it(user, tmp_path):
    job = BasicJob.objects.create(name="stale", user=user, label="test_app")
    job.execute()
    go = tmp_path / "go"
    stale = spawn(job, "stale-save", go, "0.5")
    deadline = time.time() + 60
    while not list(tmp_path.glob("go.*")):
        assert time.time() < deadline and stale.poll() is None
        time.sleep(0.01)
    go.touch()
    job.status = "Complete"  # completes while the other process holds an old copy
    out, err = stale.communicate(timeout=60)
    assert stale.returncode == 0, err
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM" and row.completion_time is not None
    assert row.description == "edited by a stale copy"
